//! Personal data in what users type: passwords in any phrasing, 身份证号, bank card numbers and mobile numbers are
//! found and masked before a message is stored or logged anywhere.
//!
//! The engine refuses a message carrying a password (and never echoes it); the server stores every message only
//! through [`scrub`], so the question log, analytics, the admin views and the 热门问题 never hold these values.

use regex::Regex;
use std::sync::OnceLock;

/// What [`scrub`] found and the text with each finding masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scrubbed {
    pub text: String,
    /// A password (or PIN) seemed to be in the text.
    pub password: bool,
    /// Anything at all was masked.
    pub masked: bool,
}

fn re(pattern: &str) -> Regex {
    // The patterns are literals of this file, covered by the tests below.
    #[allow(clippy::expect_used)]
    Regex::new(pattern).expect("built-in PII pattern compiles")
}

/// A secret after a password word: Chinese words may run straight into the value (密码Abc12345), English ones need
/// a separator ("password is …", "pwd: …") so that "password reset" stays a question. The value is capture `v`
/// (Chinese) or `w` (English); [`password_spans`] keeps only values that look like secrets.
fn password_pattern() -> &'static Regex {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    PATTERN.get_or_init(|| {
        re(concat!(
            r"(?i)(?:",
            r"(?:密码|密碼|口令|pin码)\s*(?:是|为|為|:|：|=|＝)?\s*(?P<v>[\x21-\x7e]{4,})",
            r"|",
            r"\b(?:password|passwd|passcode|pwd|pin)\b\s*(?:is|was|:|=|：)\s*(?P<w>[\x21-\x7e]{3,})",
            r")"
        ))
    })
}

/// Where passwords are in `text`: after a Chinese password word, ASCII of 4 or more holding a digit, or of 6 or
/// more (密码忘了 has no value; 忘记密码 2 次 has too short a one); after an English one, whatever follows the
/// separator.
fn password_spans(text: &str) -> Vec<std::ops::Range<usize>> {
    password_pattern()
        .captures_iter(text)
        .filter(|caps| match (caps.name("v"), caps.name("w")) {
            (Some(v), _) => v.as_str().len() >= 6 || v.as_str().bytes().any(|b| b.is_ascii_digit()),
            (None, Some(_)) => true,
            (None, None) => false,
        })
        .filter_map(|caps| caps.get(0).map(|m| m.range()))
        .collect()
}

/// 18-digit resident ID numbers (birth date inside; the last character may be X) and the old 15-digit ones.
fn id_card_pattern() -> &'static Regex {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    PATTERN.get_or_init(|| {
        re(r"(?:^|[^0-9])([1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx])(?:[^0-9]|$)")
    })
}

/// Bank card numbers: 16 to 19 digits, optionally in groups of four.
fn bank_card_pattern() -> &'static Regex {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    PATTERN.get_or_init(|| re(r"(?:^|[^0-9])(\d{4}(?:[ \-]?\d{4}){3}(?:[ \-]?\d{1,3})?)(?:[^0-9]|$)"))
}

/// Mainland mobile numbers (11 digits starting 13–19), optionally with +86.
fn mobile_pattern() -> &'static Regex {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    PATTERN.get_or_init(|| re(r"(?:^|[^0-9])((?:\+?86[ \-]?)?1[3-9]\d{9})(?:[^0-9]|$)"))
}

/// Whether the text seems to carry a password.
pub fn contains_password(text: &str) -> bool {
    !password_spans(text).is_empty()
}

/// Masks the first capture group of every match of `pattern` with `mask`.
fn mask_group(text: &str, pattern: &Regex, mask: &str) -> (String, bool) {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut found = false;
    for caps in pattern.captures_iter(text) {
        if let Some(m) = caps.get(1) {
            out.push_str(&text[last..m.start()]);
            out.push_str(mask);
            last = m.end();
            found = true;
        }
    }
    out.push_str(&text[last..]);
    (out, found)
}

/// The text with passwords, 身份证号, bank card numbers and mobile numbers masked.
pub fn scrub(text: &str) -> Scrubbed {
    let spans = password_spans(text);
    let password = !spans.is_empty();
    let mut current = String::with_capacity(text.len());
    let mut last = 0;
    for span in spans {
        current.push_str(&text[last..span.start]);
        current.push_str("[已隐去：密码]");
        last = span.end;
    }
    current.push_str(&text[last..]);
    let mut masked = password;
    // Each pattern needs a non-digit (or an edge) on both sides of its number, so a number masked by one is not
    // matched again by the next, and the longest kinds go first.
    for (pattern, mask) in [
        (id_card_pattern(), "[已隐去：身份证号]"),
        (bank_card_pattern(), "[已隐去：银行卡号]"),
        (mobile_pattern(), "[已隐去：手机号]"),
    ] {
        // Adjacent matches share their separating character, so one pass can miss every other one: repeat.
        loop {
            let (next, found) = mask_group(&current, pattern, mask);
            if !found {
                break;
            }
            current = next;
            masked = true;
        }
    }
    Scrubbed { text: current, password, masked }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_many_phrasings_are_found_and_masked() {
        for text in [
            "账号zhangsan@tjcu.edu.cn 密码Abc12345",
            "我的密码是abc12345",
            "密碼是Xyz98765",
            "my password is hunter22",
            "Password: s3cret!",
            "pwd=qwerty1",
            "口令 778899",
            "统一身份认证密码：Tjcu@2024 登不上",
        ] {
            let s = scrub(text);
            assert!(s.password && s.masked, "{text}");
            for secret in ["Abc12345", "abc12345", "Xyz98765", "hunter22", "s3cret", "qwerty1", "778899", "Tjcu@2024"] {
                assert!(!s.text.contains(secret), "{text} → {}", s.text);
            }
        }
    }

    #[test]
    fn questions_about_passwords_are_not_passwords() {
        for text in [
            "密码忘了怎么办",
            "忘记密码 2 次被锁了",
            "怎么修改统一身份认证密码",
            "password reset",
            "忘记密码怎么找回",
            "校园网密码怎么改",
        ] {
            let s = scrub(text);
            assert!(!s.password && !s.masked, "{text} → {}", s.text);
            assert_eq!(s.text, text);
        }
    }

    #[test]
    fn id_card_bank_card_and_mobile_numbers_are_masked() {
        let s = scrub("身份证120104200001011234，卡号6222 0202 0000 1234 567，电话13812345678");
        assert!(s.masked && !s.password);
        assert_eq!(s.text, "身份证[已隐去：身份证号]，卡号[已隐去：银行卡号]，电话[已隐去：手机号]");
        assert_eq!(scrub("12010419991231123X").text, "[已隐去：身份证号]");
        assert_eq!(scrub("+86 13900001111 和 15800002222").text, "[已隐去：手机号] 和 [已隐去：手机号]");
    }

    #[test]
    fn short_numbers_and_office_phones_stay() {
        for text in ["022-26675555 是哪个部门", "2021001234 的成绩", "第3教学楼101室", "学号2021001234"]
        {
            assert_eq!(scrub(text).text, text);
        }
    }
}
