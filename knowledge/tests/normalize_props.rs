//! Property tests of `knowledge::normalize::normalize`: it never panics, is idempotent, maps full-width ASCII to
//! half-width, and its output is lowercase, emoji-free, single-spaced word characters.

use knowledge::normalize::{is_word_char, normalize};
use proptest::prelude::*;

/// Every character of the traditional → simplified table (both sides), so that generated text hits it often.
fn t2s_chars() -> Vec<char> {
    include_str!("../assets/t2s.txt").lines().filter(|l| !l.starts_with('#')).flat_map(|l| l.chars().take(2)).collect()
}

/// A character the way user text mixes them: ASCII, full-width forms, CJK, traditional characters, emoji and
/// joiners, punctuation, and anything else Unicode has.
fn any_text_char() -> impl Strategy<Value = char> {
    let table = t2s_chars();
    prop_oneof![
        3 => proptest::char::range(' ', '~'),
        2 => proptest::char::range('\u{FF01}', '\u{FF5E}'),
        1 => Just('\u{3000}'),
        3 => proptest::char::range('\u{4E00}', '\u{9FFF}'),
        3 => proptest::sample::select(table),
        2 => proptest::char::range('\u{1F300}', '\u{1FAFF}'),
        1 => prop_oneof![
            proptest::char::range('\u{2600}', '\u{27BF}'),
            Just('\u{200D}'),
            Just('\u{FE0F}'),
            Just('\u{20E3}'),
        ],
        1 => proptest::sample::select(vec!['，', '。', '？', '！', '、', '：', '“', '”', '《', '》', '\t', '\n', '·']),
        2 => any::<char>(),
    ]
}

fn any_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(any_text_char(), 0..64).prop_map(|cs| cs.into_iter().collect())
}

/// The emoji ranges `normalize` drops (pictographs, dingbats, variation selectors, joiners, tags).
fn is_emoji(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0xFE00..=0xFE0F | 0x200D | 0x20E3 | 0xE0020..=0xE007F)
}

/// Printable ASCII written in full-width forms (U+FF01..U+FF5E; the space as U+3000).
fn full_width(ascii: &str) -> String {
    ascii
        .chars()
        .map(|c| match c {
            ' ' => '\u{3000}',
            '!'..='~' => char::from_u32(c as u32 + 0xFEE0).unwrap_or(c),
            other => other,
        })
        .collect()
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_strings(s in any::<String>()) {
        let _ = normalize(&s);
    }

    #[test]
    fn is_idempotent(s in any_text()) {
        let once = normalize(&s);
        prop_assert_eq!(normalize(&once), once);
    }

    #[test]
    fn is_idempotent_on_arbitrary_strings(s in any::<String>()) {
        let once = normalize(&s);
        prop_assert_eq!(normalize(&once), once);
    }

    #[test]
    fn full_width_ascii_normalizes_as_half_width(s in "[ -~]{0,40}") {
        prop_assert_eq!(normalize(&full_width(&s)), normalize(&s));
    }

    #[test]
    fn output_is_lowercase_emoji_free_single_spaced_words(s in any_text()) {
        let out = normalize(&s);
        prop_assert!(!out.starts_with(' ') && !out.ends_with(' ') && !out.contains("  "), "spacing: {:?}", out);
        for c in out.chars() {
            prop_assert!(!is_emoji(c), "emoji {:?} in {:?}", c, out);
            prop_assert!(!c.is_ascii_uppercase(), "uppercase {:?} in {:?}", c, out);
            prop_assert!(!matches!(c as u32, 0xFF01..=0xFF5E | 0x3000), "full-width {:?} in {:?}", c, out);
            prop_assert!(
                c == ' ' || is_word_char(c) || matches!(c, '@' | '.' | '+' | '#' | '-' | '_'),
                "unexpected {:?} in {:?}", c, out
            );
        }
        for word in out.split(' ') {
            prop_assert!(!word.starts_with(['.', '-', '_']) && !word.ends_with(['.', '-', '_']), "word edge: {:?}", out);
        }
    }

    #[test]
    fn word_characters_are_never_dropped_only_mapped(s in "[a-zA-Z0-9\u{4E00}-\u{9FFF}]{1,30}") {
        // Letters, digits and ideographs survive one for one (lowercased, traditional folded to simplified).
        prop_assert_eq!(normalize(&s).chars().count(), s.chars().count());
    }
}

#[test]
fn a_chained_traditional_character_folds_all_the_way() {
    // 薴 → 苧 and 苧 → 苎 are both in the table: one pass must reach the end of the chain.
    assert_eq!(normalize("薴"), normalize("苎"));
}
