//! Text normalization applied to every question and every indexed phrasing before either ranking sees it.

use std::collections::HashMap;
use std::sync::OnceLock;

static T2S_TABLE: &str = include_str!("../assets/t2s.txt");

fn t2s() -> &'static HashMap<char, char> {
    static MAP: OnceLock<HashMap<char, char>> = OnceLock::new();
    MAP.get_or_init(|| {
        let direct: HashMap<char, char> = T2S_TABLE
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let mut cs = l.chars();
                Some((cs.next()?, cs.next()?))
            })
            .collect();
        // A few entries chain (薴 → 苧 → 苎): follow each to its end, so that one pass folds all the way and
        // normalizing twice changes nothing. Bounded, in case the table ever held a cycle.
        direct
            .iter()
            .map(|(&from, &to)| {
                let mut end = to;
                for _ in 0..8 {
                    match direct.get(&end) {
                        Some(&next) if next != end => end = next,
                        _ => break,
                    }
                }
                (from, end)
            })
            .collect()
    })
}

/// Pictographs, dingbats, variation selectors and joiners: decoration that carries no query meaning.
fn is_emoji(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0xFE00..=0xFE0F | 0x200D | 0x20E3 | 0xE0020..=0xE007F)
}

/// Characters that are part of words: letters, digits and CJK ideographs.
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || is_cjk(c)
}

/// CJK unified ideographs (and extension A).
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0xF900..=0xFAFF)
}

/// Full-width to half-width, ASCII lowercase, traditional to simplified, emoji and punctuation to spaces,
/// runs of spaces collapsed. Keeps `@`, `.`, `+`, `#` and `-` inside words (e-mail, C++, 4-6级).
pub fn normalize(text: &str) -> String {
    let table = t2s();
    let mut out = String::with_capacity(text.len());
    let mut last_space = true;
    for raw in text.chars() {
        let c = match raw as u32 {
            0xFF01..=0xFF5E => char::from_u32(raw as u32 - 0xFEE0).unwrap_or(raw),
            0x3000 => ' ',
            _ => raw,
        };
        let c = c.to_ascii_lowercase();
        let c = *table.get(&c).unwrap_or(&c);
        if is_emoji(c) {
            continue;
        }
        let keep = is_word_char(c) || matches!(c, '@' | '.' | '+' | '#' | '-' | '_');
        if keep {
            out.push(c);
            last_space = false;
        } else if !last_space {
            out.push(' ');
            last_space = true;
        }
    }
    // Trailing punctuation-like characters kept above are noise at word edges.
    out.split(' ')
        .map(|w| w.trim_matches(|c: char| matches!(c, '.' | '-' | '_')))
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn full_width_becomes_half_width_and_lowercase() {
        assert_eq!(normalize("ＷｉＦｉ连不上！！"), "wifi连不上");
    }

    #[test]
    fn traditional_becomes_simplified() {
        assert_eq!(normalize("學費怎麼繳"), "学费怎么缴");
    }

    #[test]
    fn emoji_and_punctuation_are_dropped() {
        assert_eq!(normalize("饭卡丢了😭😭，咋办？？"), "饭卡丢了 咋办");
    }

    #[test]
    fn email_and_version_like_tokens_survive() {
        assert_eq!(normalize("Email: xx@tjcu.edu.cn."), "email xx@tjcu.edu.cn");
    }
}
