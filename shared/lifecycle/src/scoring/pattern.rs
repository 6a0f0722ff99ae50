//! Small text matchers used by the rules: `*` globs for page paths and ids, whole-word phrase
//! search for job titles in any language, the first number of a size band, and the free and
//! disposable e-mail domain lists.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use wildmatch::WildMatch;

/// A glob on an attribute value: `*` stands for any run of characters (including none), `?`
/// for exactly one, and everything else matches itself, case-insensitively. Compiled once,
/// when the rule set is read, so matching allocates nothing.
#[derive(Clone)]
pub struct Glob {
    source: String,
    matcher: WildMatch,
}

impl Glob {
    /// The glob of `pattern`.
    pub fn new(pattern: &str) -> Self {
        Self {
            source: pattern.to_owned(),
            matcher: WildMatch::new_case_insensitive(pattern),
        }
    }

    /// Whether `text` matches.
    #[inline]
    pub fn matches(&self, text: &str) -> bool {
        self.matcher.matches(text)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl PartialEq for Glob {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.source, f)
    }
}

impl Serialize for Glob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Glob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let source = String::deserialize(d)?;
        Ok(Glob::new(&source))
    }
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

/// The disposable (throwaway) mail domains: the list of the `mailchecker` crate, which its
/// maintainers keep up to date across several languages. `build.rs` writes it sorted, lower-case
/// and one per line, each line ended by `\n`; it is searched in place, so nothing is built at
/// cold start and the bootstrap carries the characters only (see `build.rs` for why).
static DISPOSABLE_DOMAINS: &str = include_str!(concat!(env!("OUT_DIR"), "/disposable_domains.txt"));

/// Whether `domain` (or a domain it is under: `x.mailinator.com`) is a disposable mail service.
pub(crate) fn is_disposable_domain(domain: &str) -> bool {
    let domain = domain.trim().to_ascii_lowercase();
    let listed = suffixes(&domain).any(|d| sorted_lines_contain(DISPOSABLE_DOMAINS, d));
    listed
}

/// Binary search for the line `needle` in `text`: lines sorted by their bytes, each ended by
/// `\n`. Works on bytes, so a non-ASCII domain cannot split a character.
fn sorted_lines_contain(text: &str, needle: &str) -> bool {
    let (text, needle) = (text.as_bytes(), needle.as_bytes());

    // `lo` and `hi` stay at line starts; the line holding `mid` is compared each round.
    let (mut lo, mut hi) = (0, text.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let start = text[lo..mid]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(lo, |i| lo + i + 1);
        let end = text[mid..hi]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(hi, |i| mid + i);

        match needle.cmp(&text[start..end]) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => hi = start,
            std::cmp::Ordering::Greater => lo = end + 1,
        }
    }
    false
}

/// `a.b.c`, `b.c`: the domain and each parent with at least two labels.
fn suffixes(domain: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(domain), |d| d.split_once('.').map(|(_, rest)| rest))
        .filter(|d| d.contains('.'))
}

/// Free webmail services that exist under one domain only.
///
/// Known shortcoming: no maintained, lean Rust crate lists free (as opposed to disposable)
/// mail providers: `email_provider_validator` downloads its lists over the network at build
/// time, which a reproducible build cannot do. So this list is ours. It names the large
/// providers of the markets the product sells to; [`FREE_MAIL_BRANDS`] covers their country
/// domains. A team adds its own with a `one_of` grade rule in the same group.
const FREE_MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "msn.com",
    "aol.com",
    "aim.com",
    "ymail.com",
    "rocketmail.com",
    "mail.com",
    "email.com",
    "usa.com",
    "post.com",
    "gmx.com",
    "gmx.net",
    "web.de",
    "t-online.de",
    "freenet.de",
    "arcor.de",
    "posteo.de",
    "mailbox.org",
    "proton.me",
    "pm.me",
    "protonmail.com",
    "protonmail.ch",
    "tutanota.com",
    "tuta.io",
    "fastmail.com",
    "zoho.com",
    "zohomail.com",
    "hushmail.com",
    "inbox.com",
    "mail.ru",
    "bk.ru",
    "list.ru",
    "inbox.ru",
    "rambler.ru",
    "yandex.ru",
    "yandex.com",
    "ya.ru",
    "qq.com",
    "foxmail.com",
    "163.com",
    "126.com",
    "yeah.net",
    "sina.com",
    "sina.cn",
    "sohu.com",
    "aliyun.com",
    "naver.com",
    "daum.net",
    "hanmail.net",
    "rediffmail.com",
    "seznam.cz",
    "centrum.cz",
    "wp.pl",
    "o2.pl",
    "onet.pl",
    "interia.pl",
    "libero.it",
    "virgilio.it",
    "tiscali.it",
    "alice.it",
    "tin.it",
    "orange.fr",
    "wanadoo.fr",
    "free.fr",
    "laposte.net",
    "sfr.fr",
    "neuf.fr",
    "bluewin.ch",
    "telenet.be",
    "skynet.be",
    "ziggo.nl",
    "kpnmail.nl",
    "planet.nl",
    "home.nl",
    "btinternet.com",
    "sky.com",
    "virginmedia.com",
    "ntlworld.com",
    "talktalk.net",
    "comcast.net",
    "verizon.net",
    "att.net",
    "sbcglobal.net",
    "bellsouth.net",
    "cox.net",
    "charter.net",
    "earthlink.net",
    "optonline.net",
    "juno.com",
    "shaw.ca",
    "rogers.com",
    "sympatico.ca",
    "bigpond.com",
    "optusnet.com.au",
    "xtra.co.nz",
    "uol.com.br",
    "bol.com.br",
    "terra.com.br",
    "abv.bg",
    "freemail.hu",
    "citromail.hu",
    "walla.co.il",
];

/// Free webmail brands that exist under many country domains (`yahoo.de`, `hotmail.co.uk`,
/// `gmx.at`, `outlook.com.br`): the brand is the domain's first label and what follows is a
/// country or generic ending of at most two short labels.
const FREE_MAIL_BRANDS: &[&str] = &[
    "yahoo",
    "hotmail",
    "outlook",
    "live",
    "windowslive",
    "gmx",
    "aol",
    "yandex",
    "libero",
];

/// Whether `domain` belongs to a free webmail service (see [`FREE_MAIL_DOMAINS`] and
/// [`FREE_MAIL_BRANDS`]).
pub(crate) fn is_free_mail_domain(domain: &str) -> bool {
    let domain = domain.trim().to_ascii_lowercase();
    if FREE_MAIL_DOMAINS.contains(&domain.as_str()) {
        return true;
    }
    let Some((brand, ending)) = domain.split_once('.') else {
        return false;
    };
    let labels: Vec<&str> = ending.split('.').collect();
    FREE_MAIL_BRANDS.contains(&brand)
        && labels.len() <= 2
        && labels.iter().all(|l| (2..=3).contains(&l.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_stars_anywhere_ignoring_case() {
        let glob = |p: &str, t: &str| Glob::new(p).matches(t);
        assert!(glob("/pricing", "/Pricing"));
        assert!(glob("/careers*", "/careers/engineer"));
        assert!(glob("*/pricing*", "/de/pricing?plan=pro"));
        assert!(glob("/blog/*/print", "/blog/a/b/print"));
        assert!(glob("*", ""));
        assert!(!glob("/pricing", "/pricing/x"));
        assert!(!glob("/careers*", "/about/careers"));
        assert!(glob("a*ba", "aba"));
        assert!(!glob("ab*ba", "aba"));
        assert!(glob("wp-?", "WP-4"));
        assert!(!glob("wp-?", "wp-42"));
        assert!(glob("*/KARRIERE*", "/de/karriere/offen"));
    }

    #[test]
    fn a_glob_reads_and_writes_as_its_pattern() {
        let glob: Glob = serde_json::from_str(r#""/careers*""#).unwrap();
        assert_eq!(serde_json::to_string(&glob).unwrap(), r#""/careers*""#);
        assert_eq!(glob, Glob::new("/careers*"));
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

    #[test]
    fn free_mail_covers_country_domains_of_the_big_providers() {
        // The domains the hand-written list of 28 missed, and country variants.
        for free in [
            "yahoo.de",
            "hotmail.de",
            "gmx.at",
            "mail.com",
            "126.com",
            "Yahoo.co.uk",
            "outlook.com.br",
            "live.fr",
            "gmail.com",
        ] {
            assert!(is_free_mail_domain(free), "{free}");
        }
        for business in [
            "corp.example",
            "yahooinc.com",
            "mail.acme.com",
            "live.acme-industries.com",
            "gmx.example.co.uk",
        ] {
            assert!(!is_free_mail_domain(business), "{business}");
        }
    }

    #[test]
    fn disposable_domains_come_from_the_maintained_list() {
        // Well-known throwaway services, and a subdomain of one.
        for throwaway in [
            "mailinator.com",
            "guerrillamail.com",
            "YOPmail.com",
            "x.33mail.com",
        ] {
            assert!(is_disposable_domain(throwaway), "{throwaway}");
        }
        for real in ["gmail.com", "corp.example", "com"] {
            assert!(!is_disposable_domain(real), "{real}");
        }
    }

    #[test]
    fn every_domain_of_the_crate_is_embedded() {
        // The build step must not drop or alter an entry: each one of the crate's list is found.
        let list = mailchecker::blacklist();
        assert!(
            list.len() > 50_000,
            "the crate's list shrank to {}",
            list.len()
        );
        for domain in list {
            assert!(is_disposable_domain(domain), "{domain}");
        }
    }

    proptest::proptest! {
        #[test]
        fn line_search_agrees_with_a_set(
            lines in proptest::collection::btree_set("[a-zé.-]{0,8}", 0..40),
            probes in proptest::collection::vec("[a-zé.-]{0,8}", 0..20),
        ) {
            // Lines sorted by their bytes (a BTreeSet of strings is) and each ended by \n.
            let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
            for probe in probes.iter().chain(&lines) {
                proptest::prop_assert_eq!(
                    sorted_lines_contain(&text, probe),
                    lines.contains(probe),
                    "{:?} in {:?}", probe, text
                );
            }
        }
    }
}
