//! Path components of exported files, made safe with the group-folder rules
//! (`jobs::groups::safe_name`), so that there is one set of naming rules in the bridge.
//!
//! One deliberate difference: the group rules drop emoji (and the joiners and variation
//! selectors that build them), while exported titles must arrive in Dropbox intact. Emoji
//! sequences are therefore swapped for private-use placeholders before the rules run and put
//! back afterwards; everything else (separators, reserved names, trailing dots and spaces,
//! length, NFC) is exactly the group rules. The invisible characters that build an emoji (zero
//! width joiner, variation selector, tags) are kept only inside an emoji sequence: anywhere else
//! they would make `Budget\u{200D}.xlsx` a different name that looks exactly like `Budget.xlsx`.

use unicode_normalization::UnicodeNormalization;

use crate::jobs::groups::safe_name as rules;

/// Start of Supplementary Private Use Area-A: never produced by DocSpace titles in practice, and
/// left alone by the group rules.
const PLACEHOLDER_BASE: u32 = 0xF_0000;

const ZWJ: char = '\u{200D}';
const VS16: char = '\u{FE0F}';
const KEYCAP: char = '\u{20E3}';
const BLACK_FLAG: char = '\u{1F3F4}';

/// `name` as one Dropbox path component (never empty, `.` or `..`; no `/` or `\`).
pub fn safe_name(name: &str) -> String {
    // Shortening can cut an emoji sequence; what is left after dropping its loose glue gets the
    // rules once more (a trailing dot or space may now be last), until nothing changes.
    let mut current = one_pass(name);
    for _ in 0..MAX_PASSES {
        let again = one_pass(&current);
        if again == current {
            break;
        }
        current = again;
    }
    current
}

/// Passes of the rules after the first; each one only ever shortens the name.
const MAX_PASSES: usize = 4;

fn one_pass(name: &str) -> String {
    // Characters of the placeholders' own range would be taken for placeholders: `_`.
    let chars: Vec<char> = name
        .nfc()
        .map(|c| {
            if (c as u32) >= PLACEHOLDER_BASE {
                '_'
            } else {
                c
            }
        })
        .collect();
    let keep = emoji_parts(&chars);
    let mut kept: Vec<char> = Vec::new();
    let protected: String = chars
        .iter()
        .zip(&keep)
        .map(|(&c, &k)| {
            if k {
                let p = char::from_u32(PLACEHOLDER_BASE + kept.len() as u32).unwrap_or('_');
                kept.push(c);
                p
            } else {
                c
            }
        })
        .collect();
    let Some(cleaned) = rules::clean_name(&protected) else {
        return "_".to_string();
    };
    let restored: Vec<char> = cleaned
        .chars()
        .map(|c| {
            let i = (c as u32).wrapping_sub(PLACEHOLDER_BASE) as usize;
            match kept.get(i) {
                Some(original) if (c as u32) >= PLACEHOLDER_BASE => *original,
                _ => c,
            }
        })
        .collect();
    // Shortening may have cut a sequence after a joiner: what no longer builds an emoji goes.
    let keep = emoji_parts(&restored);
    let out: String = restored
        .iter()
        .zip(&keep)
        .filter(|(c, k)| **k || !is_emoji_glue(**c))
        .map(|(c, _)| *c)
        .collect();
    if out.is_empty() {
        "_".to_string()
    } else {
        out.nfc().collect()
    }
}

/// The invisible characters that only build emoji.
fn is_emoji_glue(c: char) -> bool {
    c == ZWJ || c == VS16 || is_tag(c)
}

/// Which of `chars` belong to an emoji: pictographs and keycaps always; a zero width joiner
/// only between two emoji, a variation selector only after a pictograph or before a keycap, tag
/// characters only after a black flag (subdivision flags).
fn emoji_parts(chars: &[char]) -> Vec<bool> {
    let mut keep = vec![false; chars.len()];
    for i in 0..chars.len() {
        let prev = i.checked_sub(1).map(|j| (chars[j], keep[j]));
        let next = chars.get(i + 1).copied();
        keep[i] = match chars[i] {
            c if is_pictograph(c) || c == KEYCAP => true,
            ZWJ => prev.is_some_and(|(p, k)| k && p != KEYCAP) && next.is_some_and(is_pictograph),
            VS16 => prev.is_some_and(|(p, _)| is_pictograph(p)) || next == Some(KEYCAP),
            '\u{E0020}'..='\u{E007F}' => {
                prev.is_some_and(|(p, k)| p == BLACK_FLAG || (k && is_tag(p)))
            }
            _ => false,
        };
    }
    keep
}

fn is_pictograph(c: char) -> bool {
    matches!(c,
        '\u{1F000}'..='\u{1FAFF}' | '\u{2600}'..='\u{27BF}' | '\u{2B00}'..='\u{2BFF}')
}

fn is_tag(c: char) -> bool {
    matches!(c, '\u{E0020}'..='\u{E007F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoji_and_non_ascii_survive() {
        assert_eq!(safe_name("отчёт 📊.docx"), "отчёт 📊.docx");
        assert_eq!(safe_name("👩‍👩‍👧 family.txt"), "👩‍👩‍👧 family.txt");
        assert_eq!(safe_name("🚀"), "🚀");
    }

    #[test]
    fn joiners_and_selectors_are_kept_only_inside_emoji() {
        assert_eq!(safe_name("Budget\u{200D}.xlsx"), "Budget.xlsx");
        assert_eq!(safe_name("\u{200D}Budget.xlsx"), "Budget.xlsx");
        assert_eq!(safe_name("a\u{FE0F}b.txt"), "ab.txt");
        assert_eq!(safe_name("🚀\u{200D}.txt"), "🚀.txt");
        assert_eq!(safe_name("👍🏽 ok.txt"), "👍🏽 ok.txt");
        assert_eq!(safe_name("❤️ love.txt"), "❤️ love.txt");
        assert_eq!(safe_name("1️⃣ first.txt"), "1️⃣ first.txt");
        let england = "🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}";
        assert_eq!(
            safe_name(&format!("{england}.txt")),
            format!("{england}.txt")
        );
        assert_eq!(safe_name("x\u{E0067}.txt"), "x.txt");
    }

    #[test]
    fn names_are_composed_and_the_fallback_is_not_guessed_from_text() {
        assert_eq!(safe_name("Cafe\u{301}.txt"), "Caf\u{E9}.txt");
        assert_eq!(safe_name("Cafe\u{301}.txt"), safe_name("Caf\u{E9}.txt"));
        // Titles that spell what the group rules fall back to stay as they are.
        assert_eq!(safe_name("group-0"), "group-0");
        assert_eq!(safe_name("group-0.txt"), "group-0.txt");
        assert_eq!(safe_name("\u{200B}"), "_");
    }

    #[test]
    fn group_rules_apply() {
        assert_eq!(safe_name("a/b"), "a_b");
        assert_eq!(safe_name("name. "), "name");
        assert_eq!(safe_name(".."), "_");
        assert_eq!(safe_name(""), "_");
        assert_eq!(safe_name("con"), "con_");
    }

    mod properties {
        use super::super::*;
        use crate::jobs::export::path::{in_folder, mirrored};
        use proptest::collection::vec;
        use proptest::prelude::*;
        use unicode_normalization::is_nfc;

        const ROOT: &str = "/DocSpace Export";

        /// Any text, and text made of what the rules care about: separators, dots, spaces,
        /// reserved names, invisible characters, emoji and their glue, composed and decomposed.
        fn title() -> impl Strategy<Value = String> {
            let tricky = prop_oneof![
                Just('.'),
                Just(' '),
                Just('/'),
                Just('\\'),
                Just(':'),
                Just('~'),
                Just('$'),
                Just('a'),
                Just('e'),
                Just('\u{301}'),
                Just('\u{E9}'),
                Just('\u{200B}'),
                Just('\u{200D}'),
                Just('\u{202E}'),
                Just('\u{FE0F}'),
                Just('\u{20E3}'),
                Just('\u{E0067}'),
                Just('\u{1F3F4}'),
                Just('\u{1F469}'),
                Just('\u{1F3FD}'),
                Just('\u{2764}'),
                Just('1'),
                Just('\u{F0000}'),
                Just('\u{20000}'),
            ];
            prop_oneof![
                any::<String>(),
                vec(tricky, 0..140).prop_map(|v| v.into_iter().collect()),
                "(con|aux|nul|com1|lpt9|desktop|thumbs|~\\$x)(\\.[a-z]{0,3})?( |\\.)?",
            ]
        }

        fn assert_valid(name: &str) {
            assert!(!name.is_empty(), "empty");
            assert!(name != "." && name != "..", "{name:?}");
            assert!(
                !name.contains(['/', '\\', '<', '>', ':', '"', '|', '?', '*']),
                "{name:?}"
            );
            assert!(!name.ends_with(['.', ' ']), "{name:?}");
            assert!(!name.starts_with(' '), "{name:?}");
            assert!(!name.chars().any(char::is_control), "{name:?}");
            assert!(is_nfc(name), "not NFC: {name:?}");
            assert!(name.encode_utf16().count() <= 255, "{name:?}");
            let chars: Vec<char> = name.chars().collect();
            for (i, c) in chars.iter().enumerate() {
                let prev = i.checked_sub(1).map(|j| chars[j]);
                let next = chars.get(i + 1).copied();
                let inside_emoji = match *c {
                    ZWJ => {
                        prev.is_some_and(|p| is_pictograph(p) || p == VS16 || is_tag(p))
                            && next.is_some_and(is_pictograph)
                    }
                    VS16 => prev.is_some_and(is_pictograph) || next == Some(KEYCAP),
                    c if is_tag(c) => prev.is_some_and(|p| p == BLACK_FLAG || is_tag(p)),
                    _ => true,
                };
                assert!(inside_emoji, "stray {c:?} in {name:?}");
                assert!(
                    !matches!(*c, '\u{200B}'..='\u{200C}' | '\u{200E}'..='\u{200F}'
                        | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}'),
                    "invisible {c:?} in {name:?}"
                );
            }
        }

        proptest! {
            #[test]
            fn every_title_becomes_a_valid_name(t in title()) {
                assert_valid(&safe_name(&t));
            }

            #[test]
            fn names_are_deterministic_and_a_valid_name_is_kept(t in title()) {
                let once = safe_name(&t);
                prop_assert_eq!(&once, &safe_name(&t));
                prop_assert_eq!(&once, &safe_name(&once));
            }

            #[test]
            fn distinct_valid_names_stay_distinct(titles in vec(title(), 1..8)) {
                let valid: std::collections::BTreeSet<String> =
                    titles.iter().map(|t| safe_name(t)).collect();
                let again: std::collections::BTreeSet<String> =
                    valid.iter().map(|t| safe_name(t)).collect();
                prop_assert_eq!(valid.len(), again.len());
            }

            #[test]
            fn exported_paths_never_leave_their_folder(
                folders in vec(title(), 1..5),
                t in title(),
                manual in title(),
            ) {
                let p = mirrored(ROOT, &folders, &t);
                let rest = p.strip_prefix("/DocSpace Export/").expect("inside the root");
                let parts: Vec<&str> = rest.split('/').collect();
                prop_assert_eq!(parts.len(), folders.len());
                for part in parts {
                    assert_valid(part);
                }
                let q = in_folder(&format!("/X/{manual}"), &t);
                prop_assert!(q.starts_with("/X/"), "{}", q);
                for part in q.split('/').skip(1) {
                    assert_valid(part);
                }
            }
        }
    }
}
