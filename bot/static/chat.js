// The web chat page: sends what the user types or taps to /web/chat and draws the replies
// (text, cards, quick replies). Text is always inserted as text, never as HTML.
"use strict";

(function () {
  const log = document.getElementById("log");
  const choices = document.getElementById("choices");
  const form = document.getElementById("form");
  const input = document.getElementById("text");
  const sendButton = document.getElementById("send");
  let busy = false;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
  }

  function addBubble(who, text) {
    const bubble = el("div", "bubble " + who, text);
    log.appendChild(bubble);
    scrollToEnd();
    return bubble;
  }

  // A phone number as a tel: link, a web address only if it is http(s).
  function safeTel(number) {
    return /^[0-9+\-() ]{3,20}$/.test(number) ? "tel:" + number.replace(/[^0-9+]/g, "") : null;
  }

  function safeUrl(url) {
    try {
      const parsed = new URL(url, window.location.href);
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
    } catch (e) {
      return null;
    }
  }

  function renderCard(card) {
    const box = el("article", "card card-" + (card.kind || "info"));
    box.appendChild(el("h2", "card-title", card.title));
    if (card.subtitle) box.appendChild(el("p", "card-subtitle", card.subtitle));
    if (card.rows && card.rows.length) {
      const rows = el("dl", "card-rows");
      card.rows.forEach(function (row) {
        rows.appendChild(el("dt", null, row[0]));
        rows.appendChild(el("dd", null, row[1]));
      });
      box.appendChild(rows);
    }
    if (card.body) box.appendChild(el("p", "card-body", card.body));
    if (card.buttons && card.buttons.length) {
      const buttons = el("div", "card-buttons");
      card.buttons.forEach(function (b) {
        let node = null;
        if (b.tel && safeTel(b.tel)) {
          node = el("a", "card-button tel", "☎ " + b.label);
          node.href = safeTel(b.tel);
        } else if (b.url && safeUrl(b.url)) {
          node = el("a", "card-button link", b.label);
          node.href = safeUrl(b.url);
          node.target = "_blank";
          node.rel = "noopener noreferrer";
        } else if (b.data) {
          node = el("button", "card-button postback", b.label);
          node.type = "button";
          node.addEventListener("click", function () { send(b.label, b.data); });
        }
        if (node) buttons.appendChild(node);
      });
      box.appendChild(buttons);
    }
    if (card.footer) box.appendChild(el("p", "card-footer", card.footer));
    return box;
  }

  function renderReplies(replies) {
    let offered = [];
    let first = null;
    replies.forEach(function (reply) {
      if (!reply.text && !(reply.cards && reply.cards.length)) return;
      const bubble = el("div", "bubble bot");
      if (reply.text) bubble.appendChild(el("p", "text", reply.text));
      (reply.cards || []).forEach(function (card) { bubble.appendChild(renderCard(card)); });
      log.appendChild(bubble);
      first = first || bubble;
      if (reply.choices && reply.choices.length) offered = reply.choices;
    });
    showChoices(offered);
    // Show the answer from its beginning: a long card should not open at its footer.
    if (first) first.scrollIntoView({ block: "start" });
  }

  function showChoices(list) {
    choices.replaceChildren();
    list.forEach(function (choice) {
      const chip = el("button", "chip", choice.label);
      chip.type = "button";
      chip.addEventListener("click", function () { send(choice.label, choice.data); });
      choices.appendChild(chip);
    });
  }

  async function post(path, body) {
    const response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {}),
    });
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) throw new Error((data && data.error) || "通信に失敗しました。もう一度お試しください。");
    return data;
  }

  function setBusy(value) {
    busy = value;
    sendButton.disabled = value;
    document.body.classList.toggle("busy", value);
  }

  async function send(text, postback, typed) {
    if (busy || !text.trim()) return;
    setBusy(true);
    addBubble("user", text);
    showChoices([]);
    const typing = addBubble("bot typing", "…");
    try {
      const data = await post("/web/chat", { text: text, postback: postback || null });
      typing.remove();
      renderReplies(data.replies || []);
    } catch (error) {
      typing.remove();
      addBubble("system", error.message);
    } finally {
      setBusy(false);
      if (typed) input.focus(); // after a tap, keep the phone's keyboard closed
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    autoGrow();
    send(text, null, true);
  });

  // Enter sends, Shift+Enter is a new line; never while the IME is still converting Japanese.
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  function autoGrow() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 120) + "px";
  }
  input.addEventListener("input", autoGrow);

  post("/web/hello")
    .then(function (data) { renderReplies(data.replies || []); })
    .catch(function (error) { addBubble("system", error.message); });
})();
