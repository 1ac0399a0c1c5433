-- wrk script: POST pre-signed LINE webhook bodies, each body at most once per run.
-- Each line of the bodies file is "<X-Line-Signature>\t<body>".
-- Arguments: bodies file, first line to send (0-based), number of wrk threads.
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  signatures, bodies = {}, {}
  for line in io.lines(args[1]) do
    local tab = line:find("\t", 1, true)
    signatures[#signatures + 1] = line:sub(1, tab - 1)
    bodies[#bodies + 1] = line:sub(tab + 1)
  end
  index = tonumber(args[2]) + tid
  step = tonumber(args[3])
end

function request()
  local i = index % #bodies + 1
  index = index + step
  return wrk.format("POST", "/line/webhook",
    {["Content-Type"] = "application/json", ["X-Line-Signature"] = signatures[i]}, bodies[i])
end
