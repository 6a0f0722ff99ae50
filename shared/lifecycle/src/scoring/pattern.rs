//! Small text matchers used by the rules: `*` globs for page paths and ids, and whole-word
//! phrase search for job titles in any language.

/// Whether `text` matches `pattern`, where `*` stands for any run of characters (including
/// none) and everything else matches itself, case-insensitively.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let pattern = pattern.to_lowercase();
    let text = text.to_lowercase();
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };

    let tail: Vec<&str> = parts.collect();
    let Some((last, middle)) = tail.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Lower-cases `text` and turns every run of non-alphanumeric characters into one space, with a
/// space at both ends, so that phrases can be found on word boundaries by plain `contains`.
pub(crate) fn words(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with(' ') {
            out.push(' ');
        }
    }
    if !out.ends_with(' ') {
        out.push(' ');
    }
    out
}

/// Whether the phrase occurs in `text` as whole words.
pub(crate) fn has_phrase(text_words: &str, phrase: &str) -> bool {
    let phrase = words(phrase);
    phrase.trim() != "" && text_words.contains(&phrase)
}

/// The first number in `text` (`"51-200"` → 51, `"10,000+"` → 10000), ignoring thousands
/// separators written as `,` or `.` between digits, or a space.
pub(crate) fn first_number(text: &str) -> Option<f64> {
    let mut digits = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else if !digits.is_empty() && matches!(c, ',' | '.' | ' ') {
            // A separator counts only when three digits follow it (a thousands group).
            let group: String = chars.clone().take(3).collect();
            let more = chars.clone().nth(3);
            if !(group.len() == 3
                && group.chars().all(|d| d.is_ascii_digit())
                && !more.is_some_and(|d| d.is_ascii_digit()))
            {
                break;
            }
        } else if !digits.is_empty() {
            break;
        }
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_stars_anywhere() {
        assert!(glob("/pricing", "/Pricing"));
        assert!(glob("/careers*", "/careers/engineer"));
        assert!(glob("*/pricing*", "/de/pricing?plan=pro"));
        assert!(glob("/blog/*/print", "/blog/a/b/print"));
        assert!(glob("*", ""));
        assert!(!glob("/pricing", "/pricing/x"));
        assert!(!glob("/careers*", "/about/careers"));
        assert!(glob("a*ba", "aba"));
        assert!(!glob("ab*ba", "aba"));
    }

    #[test]
    fn phrases_match_on_word_boundaries_in_any_script() {
        let title = words("Sr. VP, Marketing & Growth");
        assert!(has_phrase(&title, "vp"));
        assert!(has_phrase(&title, "marketing"));
        assert!(!has_phrase(&title, "market"));
        assert!(has_phrase(&words("Directeur Général"), "directeur général"));
        assert!(has_phrase(&words("GESCHÄFTSFÜHRER"), "geschäftsführer"));
        assert!(has_phrase(&words("Head of Sales"), "head of"));
        assert!(!has_phrase(&words("Head"), ""));
    }

    #[test]
    fn first_number_reads_bands_and_separators() {
        assert_eq!(first_number("51-200"), Some(51.0));
        assert_eq!(first_number("10,000+"), Some(10000.0));
        assert_eq!(first_number("1.000 Mitarbeiter"), Some(1000.0));
        assert_eq!(first_number("about 250 people"), Some(250.0));
        assert_eq!(first_number("1,5"), Some(1.0));
        assert_eq!(first_number("many"), None);
    }
}
