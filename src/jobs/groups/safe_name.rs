//! Turns a DocSpace group name into one Dropbox folder name that stays readable, can never leave
//! `GROUPS_ROOT` and that Dropbox (API and desktop clients) accepts. Owns only the name rules;
//! choosing between the plain and the disambiguated name is the planner's job.

use unicode_normalization::UnicodeNormalization;

/// Longest name we produce, in UTF-16 code units (how Windows and the Dropbox desktop client count).
/// Dropbox recommends full paths under 260 units; this leaves room for the root, the collision
/// suffix and the files people keep inside.
pub const MAX_NAME_UNITS: usize = 100;

/// Characters never allowed (`/`, `\`) or that break Windows / desktop sync (`<>:"|?*`).
const FORBIDDEN: &[char] = &['/', '\\', '<', '>', ':', '"', '|', '?', '*'];

/// Names Windows reserves for devices, whatever the extension.
const RESERVED_STEMS: &[&str] = &[
    "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8",
    "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// Names the Dropbox desktop client ignores or treats specially.
const IGNORED_NAMES: &[&str] = &[
    "desktop.ini",
    "thumbs.db",
    ".ds_store",
    ".dropbox",
    ".dropbox.attr",
    ".dropbox.cache",
];

/// The folder name for a group: `name` made safe, or `group-<id prefix>` when nothing usable is
/// left of it.
pub fn safe_name(name: &str, group_id: &str) -> String {
    clean_name(name).unwrap_or_else(|| format!("group-{}", short_id(group_id)))
}

/// `name` made safe by the rules, NFC-normalised (one spelling per visible name, as the
/// uniqueness checks compare it); `None` when nothing usable is left of it.
pub fn clean_name(name: &str) -> Option<String> {
    let composed: String = name.nfc().collect();
    // Composed again: a cut can leave a character whose composition partner was cut away.
    Some(clean(&composed).nfc().collect::<String>()).filter(|c| !c.is_empty())
}

/// The stable alternative used when another group already owns [`safe_name`]'s folder:
/// `Name (1a2b3c4d)`, from the group id, so it never changes between runs.
pub fn disambiguated_name(name: &str, group_id: &str) -> String {
    let suffix = format!(" ({})", short_id(group_id));
    let base = safe_name(name, group_id);
    let room = MAX_NAME_UNITS.saturating_sub(suffix.encode_utf16().count());
    let base = trim_end(truncate_units(&base, room));
    format!("{base}{suffix}")
}

/// The first 8 alphanumerics of the group id (a GUID in DocSpace), lower-cased.
pub fn short_id(group_id: &str) -> String {
    let s: String = group_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase();
    if s.is_empty() {
        "0".to_string()
    } else {
        s
    }
}

fn clean(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut last_space = true; // drops leading whitespace and collapses runs
    for c in name.chars() {
        let mapped = if FORBIDDEN.contains(&c) {
            Some('_')
        } else if c.is_whitespace() {
            Some(' ')
        } else if c.is_control() || is_invisible(c) || is_emoji(c) {
            None
        } else {
            Some(c)
        };
        match mapped {
            Some(' ') if last_space => {}
            Some(' ') => {
                out.push(' ');
                last_space = true;
            }
            Some(m) => {
                out.push(m);
                last_space = false;
            }
            None => {}
        }
    }
    let mut s = trim_end(truncate_units(&out, MAX_NAME_UNITS)).to_string();
    // A name made only of dots (`.`, `..`) is a path component, not a name.
    if s.chars().all(|c| c == '.') {
        return String::new();
    }
    if let Some(rest) = s.strip_prefix("~$") {
        s = format!("_{rest}");
    }
    let lower = s.to_lowercase();
    let stem = lower.split('.').next().unwrap_or("").trim_end();
    if RESERVED_STEMS.contains(&stem) || IGNORED_NAMES.contains(&lower.as_str()) {
        // `con` → `con_`, `aux.txt` → `aux_.txt`: still readable, no longer reserved.
        let at = s.find('.').unwrap_or(s.len());
        s.insert(at, '_');
        s = trim_end(truncate_units(&s, MAX_NAME_UNITS)).to_string();
    }
    s
}

/// Drops trailing dots and spaces (Windows strips them; Dropbox rejects trailing whitespace).
fn trim_end(s: &str) -> &str {
    s.trim_end_matches(['.', ' '])
}

/// The longest prefix of `s` of at most `max` UTF-16 code units, cut on a char boundary.
fn truncate_units(s: &str, max: usize) -> &str {
    let mut units = 0;
    for (i, c) in s.char_indices() {
        units += c.len_utf16();
        if units > max {
            return &s[..i];
        }
    }
    s
}

/// Zero-width and bidi-control characters: invisible, and a way to make two names look alike.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}'
        | '\u{FE00}'..='\u{FE0F}' | '\u{E0000}'..='\u{E007F}')
}

/// Pictographs Dropbox advises against in names (they break desktop sync on some systems).
fn is_emoji(c: char) -> bool {
    matches!(c,
        '\u{1F000}'..='\u{1FAFF}' | '\u{2600}'..='\u{27BF}' | '\u{2B00}'..='\u{2BFF}' | '\u{20E3}')
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3F2A9C1B-0000-4000-8000-000000000001";

    fn ok_for_dropbox(n: &str) {
        assert!(!n.is_empty(), "empty name");
        assert!(!n.contains(FORBIDDEN), "forbidden char in {n:?}");
        assert!(!n.ends_with(['.', ' ']), "trailing dot/space in {n:?}");
        assert!(!n.starts_with(' '), "leading space in {n:?}");
        assert!(n != "." && n != "..");
        assert!(!n.chars().any(char::is_control), "control char in {n:?}");
        assert!(
            n.encode_utf16().count() <= MAX_NAME_UNITS,
            "too long: {n:?}"
        );
    }

    #[test]
    fn keeps_ordinary_names() {
        assert_eq!(safe_name("Marketing", ID), "Marketing");
        assert_eq!(safe_name("R&D (Berlin)", ID), "R&D (Berlin)");
        assert_eq!(safe_name("Ventes Été", ID), "Ventes Été");
        assert_eq!(safe_name(".NET team", ID), ".NET team");
    }

    #[test]
    fn separators_and_traversal_cannot_escape() {
        assert_eq!(safe_name("a/b", ID), "a_b");
        assert_eq!(safe_name("a\\b", ID), "a_b");
        assert_eq!(safe_name("../x", ID), ".._x");
        assert_eq!(safe_name("..", ID), "group-3f2a9c1b");
        assert_eq!(safe_name(".", ID), "group-3f2a9c1b");
        assert_eq!(safe_name("/", ID), "_");
        assert_eq!(safe_name("Finance / Ops", ID), "Finance _ Ops");
    }

    #[test]
    fn windows_reserved_and_trailing_dots() {
        assert_eq!(safe_name("con", ID), "con_");
        assert_eq!(safe_name("CON", ID), "CON_");
        assert_eq!(safe_name("aux.txt", ID), "aux_.txt");
        assert_eq!(safe_name("LPT1", ID), "LPT1_");
        assert_eq!(safe_name("console", ID), "console");
        assert_eq!(safe_name("name.", ID), "name");
        assert_eq!(safe_name("name . . ", ID), "name");
        assert_eq!(safe_name("desktop.ini", ID), "desktop_.ini");
        assert_eq!(safe_name("a<b>c:d\"e|f?g*", ID), "a_b_c_d_e_f_g_");
    }

    #[test]
    fn control_whitespace_and_invisible_characters() {
        assert_eq!(safe_name("  Sales\t\tTeam \r\n", ID), "Sales Team");
        assert_eq!(safe_name("a\u{0}b\u{7f}c", ID), "abc");
        assert_eq!(safe_name("ad\u{202E}min", ID), "admin");
        assert_eq!(safe_name("\u{200B}", ID), "group-3f2a9c1b");
    }

    #[test]
    fn empty_and_emoji() {
        assert_eq!(safe_name("", ID), "group-3f2a9c1b");
        assert_eq!(safe_name("   ", ID), "group-3f2a9c1b");
        assert_eq!(safe_name("🚀 Launch ✨", ID), "Launch");
        assert_eq!(safe_name("👩‍👩‍👧", ID), "group-3f2a9c1b");
    }

    #[test]
    fn overlong_names_are_cut_on_char_boundaries() {
        let long = "é".repeat(300);
        let n = safe_name(&long, ID);
        assert_eq!(n.chars().count(), MAX_NAME_UNITS);
        let spaced = format!("{}. x", "a".repeat(MAX_NAME_UNITS - 1));
        assert_eq!(safe_name(&spaced, ID), "a".repeat(MAX_NAME_UNITS - 1));
        let cjk = "𠀀".repeat(80); // supplementary plane: 2 UTF-16 units each
        assert_eq!(safe_name(&cjk, ID).encode_utf16().count(), MAX_NAME_UNITS);
    }

    #[test]
    fn every_hostile_name_is_valid() {
        let long = "x".repeat(300);
        for n in [
            "../x",
            "a/b",
            "con",
            "name.",
            &long,
            "🚀",
            "..",
            " . ",
            "\\\\server\\share",
            "a\nb",
            "nul.tar.gz",
            "~$lock",
            "COM9 ",
            "\u{0}",
            "/../../etc",
        ] {
            ok_for_dropbox(&safe_name(n, ID));
            ok_for_dropbox(&disambiguated_name(n, ID));
        }
    }

    #[test]
    fn disambiguated_names_are_stable_and_distinct() {
        assert_eq!(disambiguated_name("a/b", ID), "a_b (3f2a9c1b)");
        assert_eq!(disambiguated_name("a/b", ID), disambiguated_name("a/b", ID));
        assert_ne!(
            disambiguated_name("a/b", ID),
            disambiguated_name("a_b", "99999999-1111")
        );
        let long = disambiguated_name(&"x".repeat(300), ID);
        assert!(long.ends_with(" (3f2a9c1b)"));
        assert_eq!(long.encode_utf16().count(), MAX_NAME_UNITS);
    }

    mod properties {
        use super::super::*;
        use super::ok_for_dropbox;
        use crate::jobs::groups::plan::{choose_path, join};
        use crate::store::path_key;
        use proptest::collection::vec;
        use proptest::prelude::*;
        use std::collections::HashMap;
        use unicode_normalization::is_nfc;

        const ROOT: &str = "/DocSpace Groups";

        fn name() -> impl Strategy<Value = String> {
            let tricky = prop_oneof![
                Just('.'),
                Just(' '),
                Just('/'),
                Just('\\'),
                Just('*'),
                Just('~'),
                Just('$'),
                Just('a'),
                Just('A'),
                Just('e'),
                Just('\u{301}'),
                Just('\u{E9}'),
                Just('\u{200D}'),
                Just('\u{202E}'),
                Just('\u{1F680}'),
                Just('\t'),
                Just('\u{20000}'),
            ];
            prop_oneof![
                any::<String>(),
                vec(tricky, 0..140).prop_map(|v| v.into_iter().collect()),
                "(con|aux|nul|com1|lpt9|desktop|thumbs|~\\$x)(\\.[a-z]{0,3})?( |\\.)?",
            ]
        }

        fn group_id() -> impl Strategy<Value = String> {
            any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string())
        }

        fn assert_valid(n: &str) {
            ok_for_dropbox(n);
            assert!(is_nfc(n), "not NFC: {n:?}");
            let lower = n.to_lowercase();
            let stem = lower.split('.').next().unwrap_or("").trim_end();
            assert!(!RESERVED_STEMS.contains(&stem), "reserved: {n:?}");
            assert!(!IGNORED_NAMES.contains(&lower.as_str()), "ignored: {n:?}");
            assert!(!n.starts_with("~$"), "{n:?}");
            assert!(!n.chars().any(is_invisible), "{n:?}");
        }

        proptest! {
            #[test]
            fn every_group_name_is_a_valid_folder_inside_the_root(n in name(), id in group_id()) {
                for folder in [safe_name(&n, &id), disambiguated_name(&n, &id)] {
                    assert_valid(&folder);
                    let path = join(ROOT, &folder);
                    let rest = path.strip_prefix("/DocSpace Groups/").expect("inside the root");
                    prop_assert_eq!(rest, folder.as_str());
                }
            }

            #[test]
            fn names_are_deterministic_and_a_valid_name_is_kept(n in name(), id in group_id()) {
                let once = safe_name(&n, &id);
                prop_assert_eq!(&once, &safe_name(&n, &id));
                prop_assert_eq!(&once, &safe_name(&once, &id));
                prop_assert_eq!(disambiguated_name(&n, &id), disambiguated_name(&n, &id));
            }

            #[test]
            fn fallback_names_of_two_groups_never_meet(
                a in name(), b in name(), ia in group_id(), ib in group_id()
            ) {
                prop_assume!(short_id(&ia) != short_id(&ib));
                prop_assert_ne!(
                    path_key(&disambiguated_name(&a, &ia)),
                    path_key(&disambiguated_name(&b, &ib))
                );
            }

            /// Names from a small alphabet collide often (case, composition, separators): every
            /// group of a set still gets a folder of its own, as the reconcile claims them.
            #[test]
            fn a_set_of_groups_gets_distinct_folders(
                groups in vec(("[aAeE\u{E9}\u{301}/ ._]{0,4}", any::<u64>()), 1..12)
            ) {
                let mut claimed: HashMap<String, usize> = HashMap::new();
                for (i, (n, salt)) in groups.iter().enumerate() {
                    // Distinct GUIDs whose first 8 hex digits differ, as DocSpace's do.
                    let id = uuid::Uuid::from_u128(((i as u128 + 1) << 96) | u128::from(*salt))
                        .to_string();
                    let taken = |p: &str| claimed.contains_key(&path_key(p));
                    let (path, _) = choose_path(ROOT, &id, n, None, &taken);
                    prop_assert!(!taken(&path), "{} given twice", path);
                    claimed.insert(path_key(&path), i);
                }
                prop_assert_eq!(claimed.len(), groups.len());
            }
        }
    }
}
