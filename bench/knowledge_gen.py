"""Generated knowledge for benchmarks: realistic Japanese SME entries in any number, and questions about them."""
from __future__ import annotations

import random
from dataclasses import dataclass

from sudachipy import Dictionary

from knowledge.index import Document
from knowledge.text import SYSTEM_DICTIONARY, to_hiragana

PLACES = ["いわき市", "平", "小名浜", "勿来", "常磐", "内郷", "四倉", "遠野", "小川", "好間", "三和", "田人", "川前",
          "久之浜", "湯本", "植田", "泉", "中央台", "福島県", "浜通り"]
TOPICS = ["設備投資", "創業", "事業承継", "人材育成", "雇用", "販路開拓", "空き店舗", "商店街", "観光", "農業", "漁業",
          "ものづくり", "資金繰り", "経営改善", "専門家派遣", "省エネ", "IT導入", "海外展開", "展示会出展", "新商品開発",
          "女性起業", "若者定着", "移住", "後継者育成", "人手不足", "働き方改革", "テレワーク", "防災", "事業継続計画",
          "感染症対策", "事業再構築", "ホームページ作成", "奨学金返還", "再生可能エネルギー", "復興", "六次化", "特産品",
          "農商工連携", "知的財産", "研究開発", "インターンシップ", "資格取得", "職場環境改善", "工場立地", "物流",
          "水産加工", "地域ブランド", "キャッシュレス", "事業計画", "賃上げ"]
KINDS = ["補助金", "助成金", "融資", "利子補給", "信用保証", "税制優遇", "相談窓口", "セミナー", "支援制度", "奨励金",
         "交付金", "貸付", "専門家相談", "研修", "認定制度"]
ORGS = ["商工会議所", "商工会", "産業振興課", "産業創出課", "日本政策金融公庫", "信用保証協会", "よろず支援拠点",
        "ハローワーク", "県の産業振興センター", "中小企業診断士協会", "金融機関"]
INDUSTRIES = ["製造業", "小売業", "飲食店", "建設業", "運送業", "旅館業", "卸売業", "サービス業", "農家", "個人事業主",
              "小規模企業", "医療法人", "NPO法人"]
QUESTION_FORMS = [
    "{topic}の{kind}はありますか", "{topic}について相談したい", "{kind}の申請方法を教えてください",
    "{topic}に使える{kind}の締め切りはいつですか", "{org}で{topic}の相談はできますか",
    "{industry}でも{kind}を使えますか", "{place}で{topic}をしたいのですが支援はありますか",
    "{topic}の{kind}はいくらまで出ますか", "{kind}の対象になる条件は", "{topic}するときの{kind}を探しています",
]
USER_FORMS = [
    "{q}", "{q}？", "{topic}について知りたい", "{topic}の{kind}", "{kind}って{industry}でももらえる？",
    "{place}の{topic}の{kind}教えて", "すみません、{q}", "{hira}",
]
UNRELATED = ["今日の天気は", "いわき駅の近くでおいしいラーメン屋", "確定申告のやり方", "マイナンバーカードの更新",
             "ゴミの出し方", "市役所の駐車場は何時まで", "図書館の休館日", "おすすめの温泉"]


_tokenizer = Dictionary(dict=SYSTEM_DICTIONARY).create()


def in_hiragana(text: str) -> str:
    """Return the text as typed by someone who never converts to kanji (particles kept)."""
    return to_hiragana("".join(m.reading_form() for m in _tokenizer.tokenize(text)))


@dataclass(frozen=True)
class GeneratedEntry:
    """One generated entry: what the index is built from."""

    entry_id: str
    title: str
    keywords: tuple[str, ...]
    questions: tuple[str, ...]
    slots: dict[str, str]

    def document(self) -> Document:
        """Return the index document of this entry, built as knowledge/model.py builds it."""
        return Document(self.entry_id, tuple(dict.fromkeys((self.title, *self.keywords, *self.questions))))


def generate(count: int, seed: int = 7) -> list[GeneratedEntry]:
    """Return `count` distinct entries built from the SME vocabulary."""
    rng = random.Random(seed)
    entries = []
    for n in range(count):
        slots = {"place": rng.choice(PLACES), "topic": rng.choice(TOPICS), "kind": rng.choice(KINDS),
                 "org": rng.choice(ORGS), "industry": rng.choice(INDUSTRIES)}
        edition = f"第{n % 97 + 1}期" if n >= len(PLACES) * len(TOPICS) else ""
        title = f"{slots['place']}{slots['topic']}{slots['kind']}{edition}"
        keywords = (slots["topic"], slots["kind"], f"{slots['topic']}{slots['kind']}", slots["industry"],
                    in_hiragana(slots["topic"]))
        questions = tuple(form.format(**slots) for form in rng.sample(QUESTION_FORMS, 3))
        entries.append(GeneratedEntry(f"gen-{n}", title, keywords, questions, slots))
    return entries


def user_questions(entries: list[GeneratedEntry], count: int, seed: int = 11) -> list[str]:
    """Return questions as users type them: rephrased, in hiragana only, or about nothing the knowledge has."""
    rng = random.Random(seed)
    questions = []
    for n in range(count):
        if n % 10 == 9:
            questions.append(rng.choice(UNRELATED) + f"（{n}）")
            continue
        entry = rng.choice(entries)
        q = rng.choice(entry.questions)
        form = rng.choice(USER_FORMS)
        questions.append(form.format(q=q, hira=in_hiragana(q), **entry.slots) + " " * (n % 3))
    return questions
