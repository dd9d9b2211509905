//! MGSM answer parsing and scoring, and its native 0-shot CoT prompts, as simple-evals.
//!
//! Source: `simple_evals/evals/mgsm_eval.py` (nvidia-simple-evals 26.3, the same logic as
//! openai/simple-evals): `LANG_TO_INSTRUCTIONS`, `LANG_TO_ANSWER_PREFIX`, `parse_answer`,
//! `score_mgsm`. Meta reports MGSM with these native prompts, 0-shot CoT, over all 11 languages.

use super::{compile, py_strip};
use regex::Regex;
use std::sync::LazyLock;

/// One MGSM language: its code, the word the model must write before its answer, and the
/// native instruction template (`{input}` stands for the question, as in simple-evals'
/// `instruction.format(input=question)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MgsmLang {
    pub code: &'static str,
    pub prefix: &'static str,
    pub instruction: &'static str,
}

impl MgsmLang {
    /// The user message for `question`: the instruction with `{input}` replaced.
    pub fn prompt(&self, question: &str) -> String {
        self.instruction.replace("{input}", question)
    }
}

/// The 11 languages in simple-evals' `ALL_LANGUAGES` order, texts copied byte for byte from
/// `mgsm_eval.py` (typos included: `ja` starts with "の", `bn` ends with "।.").
pub const MGSM_LANGS: [MgsmLang; 11] = [
    MgsmLang {
        code: "bn",
        prefix: "উত্তর",
        instruction: "এই গণিতের সমস্যাটি সমাধান করুন। চূড়ান্ত উত্তর দেওয়ার আগে যুক্তিসম্পন্ন পদক্ষেপ প্রদান করুন। চূড়ান্ত উত্তরটি একক সংখ্যা হিসাবে \"উত্তর:\" এর পরে শেষ লাইনে দিন। \"উত্তর:\" এর পরে অন্য কিছু যুক্ত করবেন না।.\n\n{input}",
    },
    MgsmLang {
        code: "de",
        prefix: "Antwort",
        instruction: "Löse dieses Mathematikproblem. Gib die Schritte zur Begründung an, bevor du die endgültige Antwort in der letzten Zeile alleine im Format \"Antwort:\" gibst. Füge nichts anderes als die ganzzahlige Antwort nach \"Antwort:\" hinzu.\n\n{input}",
    },
    MgsmLang {
        code: "en",
        prefix: "Answer",
        instruction: "Solve this math problem. Give the reasoning steps before giving the final answer on the last line by itself in the format of \"Answer:\". Do not add anything other than the integer answer after \"Answer:\".\n\n{input}",
    },
    MgsmLang {
        code: "es",
        prefix: "Respuesta",
        instruction: "Resuelve este problema matemático. Proporciona los pasos de razonamiento antes de dar la respuesta final en la última línea por sí misma en el formato de \"Respuesta:\". No añadas nada más que la respuesta entera después de \"Respuesta:\".\n\n{input}",
    },
    MgsmLang {
        code: "fr",
        prefix: "Réponse",
        instruction: "Résolvez ce problème de mathématiques. Donnez les étapes de raisonnement avant de fournir la réponse finale sur la dernière ligne elle-même dans le format de \"Réponse:\". N'ajoutez rien d'autre que la réponse entière après \"Réponse:\".\n\n{input}",
    },
    MgsmLang {
        code: "ja",
        prefix: "答え",
        instruction: "の数学の問題を解いてください。最終的な答えを出す前に、解答の推論過程を記述してください。そして最後の行には \"答え:\" の形式で答えを記述し、その後には整数の答え以外何も追加しないでください。\n\n{input}",
    },
    MgsmLang {
        code: "ru",
        prefix: "Ответ",
        instruction: "Решите эту математическую задачу. Объясните шаги рассуждения перед тем, как дать окончательный ответ в последней строке сам по себе в формате \"Ответ:\". Не добавляйте ничего, кроме целочисленного ответа после \"Ответ:\".\n\n{input}",
    },
    MgsmLang {
        code: "sw",
        prefix: "Jibu",
        instruction: "Suluhisha tatizo hili la hesabu. Toa hatua za mantiki kabla ya kutoa jibu la mwisho kwenye mstari wa mwisho peke yake katika muundo wa \"Jibu:\". Usiongeze chochote kingine isipokuwa jibu la integer baada ya \"Jibu:\".\n\n{input}",
    },
    MgsmLang {
        code: "te",
        prefix: "సమాధానం",
        instruction: "ఈ గణిత సమస్యను పరిష్కరించండి. చివరి సమాధానాన్ని ఇవ్వదానికి ముందు తర్కాత్మక అదుగులను ఇవ్వండి. చివరి పంక్తిలో మాత్రమే 'సమాధానం:' అనే ఆకారంలో చివరి సమాధానాద్ని ఇవ్వండి సమాధానం: తర్వాత పూర్ణాంక సమాధానానికి తప్పించి ఎదేనా చేర్చవద్దు.\n\n{input}",
    },
    MgsmLang {
        code: "th",
        prefix: "คำตอบ",
        instruction: "แก้ปัญหาคณิตศาสตร์นี้ ให้ให้ขั้นตอนการใช้เหตุผลก่อนที่จะให้คำตอบสุดท้ายในบรรทัดสุดท้ายโดยอยู่ในรูปแบบ \"คำตอบ:\" ไม่ควรเพิ่มอะไรนอกจากคำตอบที่เป็นจำนวนเต็มหลังจาก \"คำตอบ:\"\n\n{input}",
    },
    MgsmLang {
        code: "zh",
        prefix: "答案",
        instruction: "解决这个数学问题。在最后一行给出答案前，请提供推理步骤。最后一行应该以 \"答案: \" 的形式独立给出答案。在 \"答案：\" 后不要添加除整数答案之外的任何内容。\n\n{input}",
    },
];

/// The language with this code (`"en"`, `"bn"`, ...).
pub fn mgsm_lang(code: &str) -> Option<&'static MgsmLang> {
    MGSM_LANGS.iter().find(|l| l.code == code)
}

/// simple-evals `parse_answer`: "" when the prefix is absent; otherwise the text after its
/// last occurrence, stripped, commas deleted, and the last `\d+\.?\d*` number (Unicode
/// digits count, as Python's `\d`) without a trailing `.`.
pub fn mgsm_parse(output: &str, lang: &MgsmLang) -> String {
    static NUMBER: LazyLock<Regex> = LazyLock::new(|| compile(r"\d+\.?\d*"));
    let Some((_, after)) = output.rsplit_once(lang.prefix) else {
        return String::new();
    };
    let text = py_strip(after).replace(',', "");
    match NUMBER.find_iter(&text).last() {
        Some(m) => m.as_str().trim_end_matches('.').to_string(),
        None => String::new(),
    }
}

/// simple-evals `score_mgsm(target, prediction)`: a prediction with a `.` loses its trailing
/// zeros and then its trailing periods; both lose their commas; then string equality.
pub fn mgsm_correct(pred: &str, target: &str) -> bool {
    let pred = if pred.contains('.') { pred.trim_end_matches('0').trim_end_matches('.') } else { pred };
    pred.replace(',', "") == target.replace(',', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_after_the_last_prefix() {
        let en = mgsm_lang("en").expect("en");
        assert_eq!(mgsm_parse("Answer: 3\nso... Answer: 1,250.", en), "1250");
        assert_eq!(mgsm_parse("the result is 7", en), "");
        assert!(mgsm_correct("18.00", "18"));
        assert!(!mgsm_correct("", "0"));
        let de = mgsm_lang("de").expect("de");
        assert!(de.prompt("Wie viel?").ends_with("\n\nWie viel?"));
    }
}
