#!/usr/bin/env python3
"""Golden fixture for herd's ports of nltk's Punkt sentence tokenizer and of langdetect
(crates/herd-lab/src/eval/score/punkt.rs and langdetect.rs), which IFEval scoring uses.

Every expected value comes from the packages themselves (pinned in
requirements-textmodels.txt), called the way lm-eval 0.4.13's IFEval calls them:

  nltk 3.10.4      instructions_util.count_sentences: len() of
                   nltk.data.load("nltk:tokenizers/punkt/english.pickle").tokenize(text),
                   which nltk >= 3.9 serves as PunktTokenizer("english") from punkt_tab. The
                   punkt_tab files are the nltk_data copy bundled in llama-index-core 0.14.25
                   (the wheel herd fetches too).
  langdetect 1.0.9 langdetect.detect(text), LangDetectException -> null. lm-eval never seeds
                   it; herd uses DetectorFactory.seed = 0, set here too. The profiles are
                   loaded in sorted file order (upstream takes os.listdir's order, which the
                   filesystem decides), and Python >= 3.12 is required: its sum() of floats
                   is compensated, and langdetect normalises with sum().

    eval_textmodels.py [--out tests/fixtures/eval/textmodels.json]

Run it with any python3: unless the references import, it creates
${HERD_HOME:-~/.cache/herd}/golden-textmodels-venv (with a Python >= 3.12 it finds: this one,
$PYTHON312, python3.13/python3.12 on PATH, or a pyenv version) and re-runs itself there.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import FIXTURES, dumps, log, run_in_venv  # noqa: E402

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements-textmodels.txt"


def _python312() -> str:
    cands = [sys.executable, os.environ.get("PYTHON312", ""), "python3.13", "python3.12"]
    pyenv = Path.home() / ".pyenv" / "versions"
    if pyenv.is_dir():
        cands += sorted(str(p / "bin" / "python3") for p in pyenv.iterdir() if p.name.startswith("3.1"))
    for c in cands:
        if not c:
            continue
        try:
            out = subprocess.run([c, "-c", "import sys; print(sys.version_info >= (3, 12))"],
                                 capture_output=True, text=True, check=False)
        except OSError:
            continue
        if out.stdout.strip() == "True":
            return c
    raise SystemExit("need a Python >= 3.12 (set PYTHON312)")


def ensure_references() -> None:
    try:
        import langdetect  # noqa: F401
        import nltk  # noqa: F401
        if sys.version_info >= (3, 12):
            return
    except ImportError:
        pass
    run_in_venv(__file__, "golden-textmodels-venv", REQUIREMENTS, python=_python312())


ensure_references()

import importlib.metadata as md  # noqa: E402
import sysconfig  # noqa: E402
from unittest import mock  # noqa: E402

import langdetect  # noqa: E402
import nltk  # noqa: E402
from langdetect import DetectorFactory, detector_factory  # noqa: E402
from langdetect.lang_detect_exception import LangDetectException  # noqa: E402

# --- Punkt -------------------------------------------------------------------------------

SENTENCES = [
    "",
    "   ",
    "\n\n",
    "Hello.",
    "Hello",
    "Hello world. How are you? I am fine!",
    "This is one sentence. This is another one.",
    "Dr. Smith went to Washington. He arrived on time.",
    "Mr. and Mrs. Jones live here. They are nice.",
    "The U.S. economy grew 3.5 percent. Analysts were surprised.",
    "I live in the U.S. It is big.",
    "I live in the U.S. and it is big.",
    "We use tools, e.g. hammers and saws. They help.",
    "We use tools, e.g. Hammers and saws. They help.",
    "Some things, i.e. apples, are red. Others are not.",
    "J. R. R. Tolkien wrote books. They are long.",
    "John F. Kennedy was president. He was young.",
    "The price is $3.50 today. Tomorrow it is $4.00.",
    "Version 2.0 is out. Version 3.1.4 comes next.",
    "Pi is about 3.14159. E is about 2.718.",
    "Wait... what happened? Nothing.",
    "Wait...What happened?",
    "He said . . . nothing. Then he left.",
    "Really?! Yes. Really!?",
    "What?!? No way!!! Okay.",
    "She said, \"Stop.\" Then she left.",
    "He asked, \"Why?\" Nobody answered.",
    "\"Go home.\" \"Why?\" \"Because.\"",
    "(This is in parentheses.) This is not.",
    "[Bracketed sentence.] Next one.",
    "He left 'quietly.' She stayed.",
    "It ends with a quote.\" Next sentence.",
    "It costs 5 dollars. 10 people came.",
    "The meeting is at 5 p.m. tomorrow. Be there.",
    "The meeting is at 5 p.m. Be there.",
    "It happened in Jan. 2020. It was cold.",
    "It happened in Sept. last year. It rained.",
    "Call me at 555-1234. Or email me.",
    "Prof. Brown teaches math. Sen. White votes.",
    "Gen. Lee surrendered. The war ended.",
    "Apple Inc. released a phone. It sold well.",
    "Apple Inc. is big. Microsoft Corp. is too.",
    "He works at Acme Co. in town. It is small.",
    "First line\nSecond line\nThird line",
    "First sentence.\nSecond sentence.\nThird sentence.",
    "Paragraph one.\n\nParagraph two.",
    "Line without period\n\nAnother line without period",
    "1. First item\n2. Second item\n3. Third item",
    "- apples\n- pears\n- plums",
    "* First point.\n* Second point.",
    "Steps:\n1. Open the box.\n2. Take it out.\n3. Enjoy.",
    "# Title\n\nSome text here. More text.",
    "**Bold sentence.** Normal sentence.",
    "Use `x.y()` to call it. Then print.",
    "Visit www.example.com for more. Thanks.",
    "Email me at john.doe@example.com. Thanks.",
    "The file is named report.pdf. Open it.",
    "i think so. i am sure.",
    "this is lower case. another sentence here.",
    "ALL CAPS SENTENCE. ANOTHER ONE.",
    "No space after period.Next sentence.",
    "Two spaces after.  Next one.",
    "Tab after period.\tNext one.",
    "Ends with space. ",
    "Ends with newline.\n",
    "Trailing spaces and newlines.   \n\n  ",
    "  Leading spaces. Second.",
    "Café au lait. Très bien.",
    "Über alles. Schön.",
    "Это предложение. Это другое.",
    "これは文です。これも文です。",
    "这是一个句子。这是另一个句子。",
    "Ελληνικά. Δεύτερη πρόταση.",
    "Il est arrivé. C'est bon.",
    "¿Qué pasa? ¡Nada!",
    "He said “hello.” Then left.",
    "He said ‘hi.’ She nodded.",
    "«Bonjour.» Il est parti.",
    "The temperature is -5.5 degrees. Cold.",
    "Results: 1,000.5 units. Good.",
    "See section 4.2. It explains.",
    "See fig. 3 for details. It helps.",
    "The vs. game was fun. We won.",
    "A. B. C. D.",
    "a. b. c.",
    "Item A. Item B.",
    "He scored 10. She scored 12.",
    "In 1999. In 2000.",
    "It was the 1990s. Times changed.",
    "No. 5 is the best. Really.",
    "Ph.D. students work hard. They learn.",
    "He has a Ph.D. He is smart.",
    "M.B.A. programs cost money. Some are free.",
    "The U.S.A. is large. Canada too.",
    "U.K. citizens travel. They like it.",
    "St. Louis is a city. It is in Missouri.",
    "Jr. members meet today. Seniors meet tomorrow.",
    "Hmm. Okay. Fine. Sure.",
    "Yes! No? Maybe.",
    "Short. Sentences. Everywhere.",
    "One sentence with a colon: here it is. Another.",
    "One sentence with a semicolon; here it is. Another.",
    "Ellipsis at the end...",
    "Ellipsis in the ... middle. Next.",
    "Unicode ellipsis… next part. End.",
    "Em dash—like this. Next.",
    "Double hyphen--like this. Next.",
    "Multiple!!! Exclamations!!! Here.",
    "Question?? Marks?? Here.",
    "Sentence one.Sentence two.Sentence three.",
    "This has an abbreviation etc. and continues. Next.",
    "This ends with etc. The next one starts.",
    "Numbers like 1.5, 2.5, and 3.5. Done.",
    "The end. (Really.) Yes.",
    "Quote: \"A. B.\" Done.",
    "He said: 'Hello. Goodbye.' Then left.",
    "Mixed\r\nline endings. Here.\r\nAnother.",
    "Emoji 😀. Another 🎉 sentence.",
    "Title Case Words. Another Title Case.",
    "word. Word. WORD. wOrD.",
    "The I.B.M. computer. It ran.",
    "Written by A. Smith and B. Jones. Published 2001.",
    "Dear Sir,\n\nI am writing to you. Please reply.\n\nSincerely,\nJohn",
    "P.S. I forgot. Sorry.",
    "Is this a question? Yes it is. Is it? Yes.",
    "He bought apples, oranges, etc. Then he left.",
    "Page 12. Page 13.",
    "Fig. 1. Fig. 2.",
    "Vol. 3 was released. Vol. 4 follows.",
    "The result was 4.2% higher. Good news.",
    "The score was 3-2. We won.",
    "At 10 a.m. we met. At noon we ate.",
    "It was a.m. He woke.",
    "Ms. Green and Mr. Brown met. They talked.",
    "\"Hi,\" he said. \"Hello,\" she replied.",
    "First.\n\n\nSecond.",
    "x.y.z is a path. a.b is too.",
    "The end.\u00a0Next starts.",
    "Ends with question mark?",
    "Ends with exclamation mark!",
    "?",
    "...",
    ". . .",
    "!!!",
    "A sentence -- with dashes. Another.",
]


def punkt_cases(tok) -> list[dict]:
    out = []
    for i, text in enumerate(SENTENCES):
        sents = tok.tokenize(text)
        out.append({"id": f"punkt_{i:03d}", "text": text, "count": len(sents), "sentences": sents})
    return out


# --- langdetect ---------------------------------------------------------------------------

LANG_TEXTS = [
    "This is a simple English sentence about the weather today.",
    "THIS IS ALL CAPS ENGLISH TEXT ABOUT THE WEATHER TODAY.",
    "this is all lowercase english text about the weather today.",
    "Hello",
    "Hi",
    "ok",
    "yes",
    "The quick brown fox jumps over the lazy dog.",
    "Ceci est une phrase en français sur le temps qu'il fait aujourd'hui.",
    "Dies ist ein deutscher Satz über das Wetter heute.",
    "Esta es una frase en español sobre el tiempo de hoy.",
    "Questa è una frase in italiano sul tempo di oggi.",
    "Esta é uma frase em português sobre o tempo de hoje.",
    "Dit is een Nederlandse zin over het weer van vandaag.",
    "Det här är en svensk mening om vädret idag.",
    "Dette er en dansk sætning om vejret i dag.",
    "Dette er en norsk setning om været i dag.",
    "Tämä on suomenkielinen lause tämän päivän säästä.",
    "To jest polskie zdanie o dzisiejszej pogodzie.",
    "Toto je česká věta o dnešním počasí.",
    "Toto je slovenská veta o dnešnom počasí.",
    "Ez egy magyar mondat a mai időjárásról.",
    "Aceasta este o propoziție în limba română despre vremea de astăzi.",
    "Bu bugünkü hava durumu hakkında Türkçe bir cümledir.",
    "Ово је српска реченица о данашњем времену.",
    "Это русское предложение о сегодняшней погоде.",
    "Це українське речення про сьогоднішню погоду.",
    "Това е българско изречение за времето днес.",
    "Ова е македонска реченица за денешното време.",
    "Αυτή είναι μια ελληνική πρόταση για τον καιρό σήμερα.",
    "هذه جملة عربية عن الطقس اليوم.",
    "این یک جمله فارسی درباره هوای امروز است.",
    "یہ آج کے موسم کے بارے میں ایک اردو جملہ ہے۔",
    "זהו משפט בעברית על מזג האוויר היום.",
    "यह आज के मौसम के बारे में एक हिंदी वाक्य है।",
    "हे आजच्या हवामानाबद्दल एक मराठी वाक्य आहे.",
    "यो आजको मौसमको बारेमा नेपाली वाक्य हो।",
    "এটি আজকের আবহাওয়া সম্পর্কে একটি বাংলা বাক্য।",
    "ਇਹ ਅੱਜ ਦੇ ਮੌਸਮ ਬਾਰੇ ਇੱਕ ਪੰਜਾਬੀ ਵਾਕ ਹੈ।",
    "આ આજના હવામાન વિશે એક ગુજરાતી વાક્ય છે.",
    "இது இன்றைய வானிலை பற்றிய ஒரு தமிழ் வாக்கியம்.",
    "ఇది ఈ రోజు వాతావరణం గురించి ఒక తెలుగు వాక్యం.",
    "ಇದು ಇಂದಿನ ಹವಾಮಾನದ ಬಗ್ಗೆ ಒಂದು ಕನ್ನಡ ವಾಕ್ಯ.",
    "ಕನ್ನಡ",
    "ഇത് ഇന്നത്തെ കാലാവസ്ഥയെക്കുറിച്ചുള്ള ഒരു മലയാളം വാക്യമാണ്.",
    "นี่คือประโยคภาษาไทยเกี่ยวกับสภาพอากาศวันนี้",
    "Đây là một câu tiếng Việt về thời tiết hôm nay.",
    "Đây là một câu tiếng Việt về thời tiết hôm nay.",
    "Ini adalah kalimat bahasa Indonesia tentang cuaca hari ini.",
    "Hii ni sentensi ya Kiswahili kuhusu hali ya hewa leo.",
    "Kani waa jumlad Soomaali ah oo ku saabsan cimilada maanta.",
    "Dit is 'n Afrikaanse sin oor die weer vandag.",
    "Kjo është një fjali shqipe për motin e sotëm.",
    "Ovo je hrvatska rečenica o današnjem vremenu.",
    "To je slovenski stavek o današnjem vremenu.",
    "Šis ir latviešu teikums par šodienas laikapstākļiem.",
    "Tai lietuviškas sakinys apie šiandienos orą.",
    "See on eestikeelne lause tänase ilma kohta.",
    "Aquesta és una frase en català sobre el temps d'avui.",
    "Mae hon yn frawddeg Gymraeg am y tywydd heddiw.",
    "Ito ay isang pangungusap sa Tagalog tungkol sa panahon ngayon.",
    "これは今日の天気についての日本語の文です。",
    "ひらがなだけのぶんしょうです",
    "カタカナノブンショウデス",
    "这是一个关于今天天气的中文句子。",
    "這是一個關於今天天氣的中文句子。",
    "이것은 오늘 날씨에 관한 한국어 문장입니다.",
    "12345",
    "3.14159 2.71828",
    "",
    "   ",
    "!!! ??? ...",
    "😀🎉👍",
    "https://www.example.com/path?query=1",
    "Contact me at john.doe@example.com please",
    "Contact me at john.doe@example.com",
    "# Heading\n\n* item one\n* item two\n\n**bold** text here",
    "def foo(x):\n    return x + 1\n\nprint(foo(2))",
    "SELECT * FROM users WHERE id = 1;",
    "<html><body><p>Hello world</p></body></html>",
    "{\"key\": \"value\", \"number\": 42}",
    "Hello world. Bonjour le monde. Hola mundo.",
    "The word 'Schadenfreude' is German.",
    "Русский text mixed with English words here.",
    "English text with a few русских слов inside it.",
    "日本語 and English mixed together in one sentence.",
    "NASA FBI CIA USA UK EU",
    "iPhone iPad MacBook",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit.",
    "Ich bin ein Berliner",
    "merci",
    "gracias",
    "danke",
    "obrigado",
    "spasibo",
    "спасибо",
    "谢谢",
    "ありがとう",
    "감사합니다",
    "शुक्रिया",
    "A",
    "ab",
    "xyz",
    "The cat sat on the mat. The dog sat on the log. Everyone was happy.",
    "I LOVE PROGRAMMING IN PYTHON AND RUST, IT IS GREAT FUN.",
    "i love programming in python and rust, it is great fun.",
    "Mi nombre es Juan y vivo en Madrid con mi familia.",
    "Je m'appelle Marie et j'habite à Paris avec ma famille.",
    "Mein Name ist Hans und ich wohne in Berlin mit meiner Familie.",
    "Meu nome é João e moro em Lisboa com a minha família.",
    "Il mio nome è Marco e vivo a Roma con la mia famiglia.",
    "Ang pangalan ko ay Juan at nakatira ako sa Maynila.",
    "Nimefurahi kukutana nawe, rafiki yangu mpendwa.",
    "Ṭhis hаs sоme Cyrillic lookalikes іn it.",
    "Ș și ț în română: școală, țară.",
    "ی و ي: یک",
    "Thì là mà, Cộng hòa Xã hội chủ nghĩa Việt Nam.",
    "Tiếng Việt có dấu: à á ả ã ạ.",
    "Hello 世界 こんにちは 안녕하세요 Привет مرحبا",
    "a" * 50,
    "The " * 3000,
    "Ünïcödé wïth dïäcrïtïcs ëvërywhërë",
    "ABC DEF GHI",
    "Abc Def Ghi",
]


def langdetect_cases() -> tuple[list[dict], list[str]]:
    DetectorFactory.seed = 0
    # Sorted profile order (see the module docstring).
    real = detector_factory.os.listdir
    with mock.patch.object(detector_factory.os, "listdir", lambda p: sorted(real(p))):
        detector_factory.init_factory()
    langs = detector_factory._factory.get_lang_list()
    assert langs == sorted(langs), langs
    out = []
    for i, text in enumerate(LANG_TEXTS):
        try:
            lang = langdetect.detect(text)
            # repr: the shortest text that reads back as the same double.
            probs = [[x.lang, repr(x.prob)] for x in langdetect.detect_langs(text)]
        except LangDetectException:
            lang, probs = None, None
        out.append({"id": f"lang_{i:03d}", "text": text, "lang": lang, "probs": probs})
    return out, langs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=FIXTURES / "eval" / "textmodels.json")
    args = ap.parse_args()
    nltk_cache = Path(sysconfig.get_paths()["purelib"]) / "llama_index" / "core" / "_static" / "nltk_cache"
    nltk.data.path.insert(0, str(nltk_cache))
    tok = nltk.data.load("nltk:tokenizers/punkt/english.pickle")
    assert type(tok).__name__ == "PunktTokenizer", type(tok)
    punkt = punkt_cases(tok)
    lang, langs = langdetect_cases()
    fixture = {
        "generator": "scripts/golden/eval_textmodels.py",
        "python": ".".join(map(str, sys.version_info[:3])),
        "versions": {p: md.version(p) for p in ("nltk", "regex", "langdetect", "llama-index-core")},
        "langdetect_seed": 0,
        "langdetect_languages": langs,
        "punkt": punkt,
        "langdetect": lang,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    body = ",\n".join(
        f"{dumps(k)}: " + ("[\n" + ",\n".join(dumps(x) for x in v) + "\n]" if k in ("punkt", "langdetect") else dumps(v))
        for k, v in fixture.items()
    )
    args.out.write_text("{\n" + body + "\n}\n", encoding="utf-8")
    log(f"{args.out}: {len(punkt)} punkt cases, {len(lang)} langdetect cases")


if __name__ == "__main__":
    main()
