//! ACL files in Mosquitto's `acl_file` syntax ([`AclFile`]).

use super::{source::Source, Access, Authorizer, BoxFuture, ClientIdentity};
use starling_codec::{TopicFilter, TopicName};
use std::{collections::HashMap, path::Path, str::FromStr, sync::Arc};

/// A problem in an ACL file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AclError {
    /// The file could not be read.
    #[error("cannot read ACL file: {0}")]
    Io(#[from] std::io::Error),
    /// A line is not valid.
    #[error("ACL file line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

/// What a rule grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
    ReadWrite,
    Deny,
}

/// The access a check needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Read,
    Write,
}

impl Kind {
    fn grants(self, need: Need) -> bool {
        matches!(
            (self, need),
            (Kind::ReadWrite, _) | (Kind::Read, Need::Read) | (Kind::Write, Need::Write)
        )
    }
}

#[derive(Debug, Clone)]
struct Rule {
    kind: Kind,
    topic: String,
    /// A level is exactly `%c` (patterns only).
    uses_client_id: bool,
    /// A level is exactly `%u` (patterns only).
    uses_username: bool,
}

#[derive(Debug, Default)]
struct Rules {
    anonymous: Vec<Rule>,
    users: HashMap<String, Vec<Rule>>,
    patterns: Vec<Rule>,
}

/// Levels of a rule's topic, with `%c` and `%u` levels replaced for a pattern.
#[derive(Clone)]
struct Levels<'a> {
    levels: std::str::Split<'a, char>,
    substitute: Option<(&'a str, &'a str)>,
}

impl<'a> Levels<'a> {
    fn plain(topic: &'a str) -> Levels<'a> {
        Levels {
            levels: topic.split('/'),
            substitute: None,
        }
    }

    fn pattern(topic: &'a str, client_id: &'a str, username: &'a str) -> Levels<'a> {
        Levels {
            levels: topic.split('/'),
            substitute: Some((client_id, username)),
        }
    }
}

impl<'a> Iterator for Levels<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let level = self.levels.next()?;
        Some(match (self.substitute, level) {
            (Some((client_id, _)), "%c") => client_id,
            (Some((_, username)), "%u") => username,
            _ => level,
        })
    }
}

/// Whether a rule and a topic or filter disagree on starting with `$`, which no wildcard
/// bridges (v5 [MQTT-4.7.2-1], v3.1.1 [MQTT-4.7.2-1]).
fn dollar_mismatch(rule: &Levels<'_>, other: &str) -> bool {
    let first = rule.clone().next().unwrap_or_default();
    first.starts_with('$') != other.starts_with('$')
}

/// Whether the ACL topic `rule` matches the topic name `topic` (publish and delivery).
fn matches_topic(rule: Levels<'_>, topic: &str) -> bool {
    if dollar_mismatch(&rule, topic) {
        return false;
    }
    let mut rule = rule;
    let mut topic = topic.split('/');
    loop {
        match (rule.next(), topic.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(r), Some(t)) if r == t => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether the ACL topic `rule` covers every topic the filter `filter` matches
/// (subscribe; Mosquitto's `mosquitto_sub_matches_acl`).
fn covers_filter(rule: Levels<'_>, filter: &str) -> bool {
    if dollar_mismatch(&rule, filter) {
        return false;
    }
    let mut rule = rule;
    let mut filter = filter.split('/');
    loop {
        match (rule.next(), filter.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(f)) if f != "#" => {}
            (Some(r), Some(f)) if r == f && f != "+" && f != "#" => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Mosquitto's `mosquitto_sub_topic_check`: a non-empty filter with wildcards only as whole
/// levels, `#` last, and no NUL.
fn valid_acl_topic(topic: &str) -> bool {
    let levels = topic.split('/').count();
    !topic.is_empty()
        && topic.len() <= 65535
        && !topic.contains('\0')
        && topic.split('/').enumerate().all(|(i, level)| {
            (!level.contains('#') || (level == "#" && i + 1 == levels))
                && (!level.contains('+') || level == "+")
        })
}

fn parse_rule(rest: &str, pattern: bool) -> Result<Rule, &'static str> {
    let rest = rest.trim();
    if rest.is_empty() {
        return Err("missing topic");
    }
    // As Mosquitto: one word is the topic; with more, the first is the access.
    let (kind, topic) = match rest.split_once(char::is_whitespace) {
        None => (Kind::ReadWrite, rest),
        Some((access, topic)) => {
            let kind = match access {
                "read" => Kind::Read,
                "write" => Kind::Write,
                "readwrite" => Kind::ReadWrite,
                "deny" => Kind::Deny,
                _ => return Err("access must be read, write, readwrite or deny"),
            };
            (kind, topic.trim())
        }
    };
    if !valid_acl_topic(topic) {
        return Err("not a valid topic filter");
    }
    let has_level = |placeholder| pattern && topic.split('/').any(|l| l == placeholder);
    Ok(Rule {
        kind,
        topic: topic.to_owned(),
        uses_client_id: has_level("%c"),
        uses_username: has_level("%u"),
    })
}

impl Rules {
    fn parse(text: &str) -> Result<Rules, AclError> {
        let mut rules = Rules::default();
        let mut user: Option<String> = None;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |reason| AclError::Line {
                line: i + 1,
                reason,
            };
            let (keyword, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            match keyword {
                "user" => {
                    let name = rest.trim();
                    if name.is_empty() {
                        return Err(err("user needs a name"));
                    }
                    user = Some(name.to_owned());
                }
                "topic" => {
                    let rule = parse_rule(rest, false).map_err(err)?;
                    match &user {
                        Some(u) => rules.users.entry(u.clone()).or_default().push(rule),
                        None => rules.anonymous.push(rule),
                    }
                }
                "pattern" => rules.patterns.push(parse_rule(rest, true).map_err(err)?),
                _ => return Err(err("expected user, topic or pattern")),
            }
        }
        // Mosquitto puts `deny` rules first in each list; the order of the rest is moot.
        let deny_first = |list: &mut Vec<Rule>| list.sort_by_key(|r| r.kind != Kind::Deny);
        deny_first(&mut rules.anonymous);
        rules.users.values_mut().for_each(deny_first);
        deny_first(&mut rules.patterns);
        Ok(rules)
    }

    fn decide(
        &self,
        client: &ClientIdentity,
        need: Need,
        matches: impl Fn(Levels<'_>) -> bool,
    ) -> Access {
        let own = match &client.username {
            Some(user) => self.users.get(user),
            None => Some(&self.anonymous),
        };
        for rule in own.into_iter().flatten() {
            if matches(Levels::plain(&rule.topic)) {
                if rule.kind == Kind::Deny {
                    return Access::Deny;
                }
                if rule.kind.grants(need) {
                    return Access::Allow;
                }
            }
        }
        if self.patterns.is_empty() {
            return Access::Deny;
        }
        let username = client.username.as_deref();
        let dangerous = |v: &str| v.contains(['+', '#']);
        if username.is_some_and(dangerous) || dangerous(&client.client_id) {
            return Access::Deny;
        }
        // An empty value or one spanning levels cannot stand for one level.
        let usable = |v: &str| !v.is_empty() && !v.contains('/');
        let client_id = client.client_id.as_str();
        for rule in &self.patterns {
            if rule.uses_client_id && !usable(client_id) {
                continue;
            }
            let username = match username {
                Some(u) if usable(u) => u,
                _ if rule.uses_username => continue,
                _ => "",
            };
            if matches(Levels::pattern(&rule.topic, client_id, username)) {
                if rule.kind == Kind::Deny {
                    return Access::Deny;
                }
                if rule.kind.grants(need) {
                    return Access::Allow;
                }
            }
        }
        Access::Deny
    }
}

/// An ACL file in Mosquitto's `acl_file` syntax, checked as Mosquitto 2 checks it; an
/// [`Authorizer`].
///
/// Syntax (one statement per line; blank lines and `#` comments ignored):
/// - `user <name>`: the `topic` lines that follow apply to clients authenticated as `<name>`
///   (the rest of the line, spaces included). Sections for the same user add up.
/// - `topic [read|write|readwrite|deny] <topic>`: before any `user` line it applies to
///   anonymous clients (no user name); after one, to that user. Without an access word the
///   access is `readwrite` (so `topic read` alone grants `readwrite` on the topic `read`, as
///   in Mosquitto). The topic may contain spaces and the `+`/`#` wildcards.
/// - `pattern [read|write|readwrite|deny] <topic>`: applies to every client, wherever it
///   stands in the file. A level that is exactly `%c` stands for the client identifier, one
///   that is exactly `%u` for the user name.
///
/// Decision, in Mosquitto 2's order (`acl_file__check` / `mosquitto_acl_check_default`):
/// 1. the client's own `topic` rules (its user's section; the anonymous rules if it has no
///    user name): a matching `deny` refuses, else a matching grant of the access allows;
/// 2. if patterns exist and the user name or client identifier contains `+` or `#`, refuse
///    (CVE-2017-7650: such a value would widen a pattern);
/// 3. the patterns (those with `%u` skipped for clients without a user name, those whose
///    value is empty or contains `/` skipped too): `deny` first, then grants;
/// 4. otherwise refuse. An ACL file with no rule for a client refuses it everything.
///
/// A `deny` thus overrides the grants of its own list: a user's `topic deny` beats that
/// user's `topic` grants and every pattern, a `pattern deny` beats pattern grants but not the
/// user's own `topic` grants. Topics starting with `$` are matched only by rules starting
/// with `$` (`#` does not grant `$SYS/…`).
///
/// Access checks: PUBLISH needs `write` on the topic; delivering a message needs `read` on
/// its topic ([`AclFile::check_delivery`], Mosquitto's per-message check). SUBSCRIBE needs a
/// `read` rule that covers the whole filter, by the wildcard-aware rule of Mosquitto's
/// `mosquitto_sub_matches_acl` (ACL `a/#` covers `a/+/b` and `a`; ACL `a/+` does not cover
/// `a/#`), and is refused when a `deny` rule covers it. Mosquitto 2's own ACL file admits
/// every SUBSCRIBE and relies on the delivery check alone; Starling tells the client at
/// SUBSCRIBE time (0x87) instead of granting a subscription that would never deliver, and
/// a deny covering only part of a granted filter is left to the delivery check.
///
/// Clones share the parsed rules: [`reload`](AclFile::reload) on one clone changes what every
/// clone checks. Checks in progress finish with the rules they started with.
#[derive(Debug, Clone)]
pub struct AclFile {
    source: Arc<Source<Rules>>,
}

impl Default for AclFile {
    /// A file with no rules (everything is refused).
    fn default() -> Self {
        AclFile {
            source: Arc::new(Source::new(None, Rules::default())),
        }
    }
}

impl AclFile {
    /// Reads and parses the file at `path`, which [`reload`](AclFile::reload) reads again.
    pub fn load(path: impl AsRef<Path>) -> Result<AclFile, AclError> {
        let path = path.as_ref();
        let rules = Rules::parse(&std::fs::read_to_string(path)?)?;
        Ok(AclFile {
            source: Arc::new(Source::new(Some(path), rules)),
        })
    }

    /// Parses the text of an ACL file.
    pub fn parse(text: &str) -> Result<AclFile, AclError> {
        Ok(AclFile {
            source: Arc::new(Source::new(None, Rules::parse(text)?)),
        })
    }

    /// Reads the file again (for SIGHUP). On error the rules loaded before stay in force. A
    /// file made by [`parse`](AclFile::parse) has no path: its rules stay as they are.
    pub fn reload(&self) -> Result<(), AclError> {
        if let Some(path) = self.source.path() {
            let rules = Rules::parse(&std::fs::read_to_string(path)?)?;
            self.source.replace(rules);
        }
        Ok(())
    }

    /// Replaces the rules with those of `text`. On error the rules stay as they were.
    pub fn reload_from_str(&self, text: &str) -> Result<(), AclError> {
        self.source.replace(Rules::parse(text)?);
        Ok(())
    }

    /// The path the file was loaded from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.source.path()
    }

    /// Publish check: `write` access to the topic name `topic`.
    pub fn check_publish(&self, client: &ClientIdentity, topic: &str) -> Access {
        self.source
            .snapshot()
            .decide(client, Need::Write, |rule| matches_topic(rule, topic))
    }

    /// Delivery check: `read` access to the topic name `topic` of a message about to be sent
    /// to `client`.
    pub fn check_delivery(&self, client: &ClientIdentity, topic: &str) -> Access {
        self.source
            .snapshot()
            .decide(client, Need::Read, |rule| matches_topic(rule, topic))
    }

    /// Subscribe check: a `read` rule must cover the whole filter `filter` (without any
    /// `$share/{group}/` prefix), and no `deny` rule that comes first may cover it.
    pub fn check_subscribe(&self, client: &ClientIdentity, filter: &str) -> Access {
        self.source
            .snapshot()
            .decide(client, Need::Read, |rule| covers_filter(rule, filter))
    }
}

impl FromStr for AclFile {
    type Err = AclError;

    /// Same as [`AclFile::parse`].
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        AclFile::parse(text)
    }
}

impl Authorizer for AclFile {
    fn authorize_publish<'a>(
        &'a self,
        client: &'a ClientIdentity,
        topic: &'a TopicName,
    ) -> BoxFuture<'a, Access> {
        Box::pin(async move { self.check_publish(client, topic.as_str()) })
    }

    /// Checks [`TopicFilter::filter`]: for `$share/g/f`, `f`.
    fn authorize_subscribe<'a>(
        &'a self,
        client: &'a ClientIdentity,
        filter: &'a TopicFilter,
    ) -> BoxFuture<'a, Access> {
        Box::pin(async move { self.check_subscribe(client, filter.filter()) })
    }

    fn authorize_delivery<'a>(
        &'a self,
        client: &'a ClientIdentity,
        topic: &'a TopicName,
    ) -> BoxFuture<'a, Access> {
        Box::pin(async move { self.check_delivery(client, topic.as_str()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Access::{Allow, Deny};

    fn who(id: &str, user: Option<&str>) -> ClientIdentity {
        ClientIdentity::new(id, user.map(Into::into))
    }

    fn acl(text: &str) -> AclFile {
        AclFile::parse(text).unwrap()
    }

    const ACL: &str = "\
# anonymous clients
topic read public/#

user alice
topic readwrite alice/#
topic deny alice/secret
topic write sensors/+/temp
topic read $SYS/#

user bob
topic read alice/#
topic bob/inbox

pattern readwrite clients/%c/#
pattern write users/%u/out
";

    #[test]
    fn anonymous_rules_come_before_the_first_user_line() {
        let acl = acl(ACL);
        let anon = who("a1", None);
        assert_eq!(acl.check_subscribe(&anon, "public/news"), Allow);
        assert_eq!(acl.check_delivery(&anon, "public/news"), Allow);
        assert_eq!(acl.check_publish(&anon, "public/news"), Deny);
        // Anonymous rules are not everyone's rules.
        assert_eq!(
            acl.check_subscribe(&who("c", Some("bob")), "public/news"),
            Deny
        );
    }

    #[test]
    fn user_sections_apply_to_their_user_only() {
        let acl = acl(ACL);
        let alice = who("c1", Some("alice"));
        let bob = who("c2", Some("bob"));
        assert_eq!(acl.check_publish(&alice, "alice/x"), Allow);
        assert_eq!(acl.check_publish(&alice, "public/news"), Deny);
        assert_eq!(acl.check_publish(&bob, "alice/x"), Deny);
        assert_eq!(acl.check_subscribe(&bob, "alice/#"), Allow);
        // No access word: readwrite.
        assert_eq!(acl.check_publish(&bob, "bob/inbox"), Allow);
        assert_eq!(acl.check_subscribe(&bob, "bob/inbox"), Allow);
        // A user without a section gets the patterns only.
        let carol = who("c3", Some("carol"));
        assert_eq!(acl.check_publish(&carol, "alice/x"), Deny);
        assert_eq!(acl.check_publish(&carol, "users/carol/out"), Allow);
        // The user name, not the client id, selects the section.
        assert_eq!(acl.check_publish(&who("alice", None), "alice/x"), Deny);
    }

    #[test]
    fn read_and_write_are_separate_grants() {
        let acl = acl(ACL);
        let alice = who("c1", Some("alice"));
        assert_eq!(acl.check_publish(&alice, "sensors/k/temp"), Allow);
        assert_eq!(acl.check_subscribe(&alice, "sensors/k/temp"), Deny);
        assert_eq!(acl.check_delivery(&alice, "sensors/k/temp"), Deny);
        assert_eq!(acl.check_subscribe(&alice, "$SYS/broker/uptime"), Allow);
        assert_eq!(acl.check_publish(&alice, "$SYS/broker/uptime"), Deny);
    }

    #[test]
    fn repeated_user_sections_add_up() {
        let acl = acl("user u\ntopic read a\nuser v\ntopic read b\nuser u\ntopic write c\n");
        let u = who("x", Some("u"));
        assert_eq!(acl.check_subscribe(&u, "a"), Allow);
        assert_eq!(acl.check_publish(&u, "c"), Allow);
        assert_eq!(acl.check_subscribe(&u, "b"), Deny);
        // A user name with spaces is the rest of the line.
        let acl = self::acl("user  jane doe \ntopic x\n");
        assert_eq!(acl.check_publish(&who("x", Some("jane doe")), "x"), Allow);
    }

    #[test]
    fn one_word_after_topic_is_the_topic() {
        // Mosquitto reads `topic read` as readwrite access to the topic `read`.
        let acl = acl("topic read\ntopic deny\n");
        let anon = who("x", None);
        assert_eq!(acl.check_publish(&anon, "read"), Allow);
        assert_eq!(acl.check_subscribe(&anon, "read"), Allow);
        assert_eq!(acl.check_publish(&anon, "deny"), Allow);
        // Topics may contain spaces.
        let acl = self::acl("topic write a b/c d\n");
        assert_eq!(acl.check_publish(&anon, "a b/c d"), Allow);
    }

    #[test]
    fn deny_wins_within_its_list_whatever_the_order() {
        let alice = who("c1", Some("alice"));
        for text in [
            "user alice\ntopic alice/#\ntopic deny alice/secret\n",
            "user alice\ntopic deny alice/secret\ntopic alice/#\n",
        ] {
            let acl = acl(text);
            assert_eq!(acl.check_publish(&alice, "alice/secret"), Deny, "{text}");
            assert_eq!(acl.check_delivery(&alice, "alice/secret"), Deny, "{text}");
            assert_eq!(acl.check_subscribe(&alice, "alice/secret"), Deny, "{text}");
            assert_eq!(acl.check_publish(&alice, "alice/other"), Allow, "{text}");
            // A deny covering part of a filter leaves the filter to the delivery check.
            assert_eq!(acl.check_subscribe(&alice, "alice/#"), Allow, "{text}");
            assert_eq!(acl.check_subscribe(&alice, "alice/+"), Allow, "{text}");
        }
        // A deny covering the whole filter refuses the subscription.
        let acl = acl("topic #\ntopic deny a/#\n");
        assert_eq!(acl.check_subscribe(&who("x", None), "a/+/c"), Deny);
        assert_eq!(acl.check_subscribe(&who("x", None), "a"), Deny);
        assert_eq!(acl.check_subscribe(&who("x", None), "b/#"), Allow);
    }

    #[test]
    fn a_user_deny_beats_patterns_but_a_pattern_deny_does_not_beat_user_grants() {
        let acl = acl("\
user alice
topic deny clients/c1/secret
topic readwrite shared/#
pattern readwrite clients/%c/#
pattern deny shared/%c
pattern deny private/%c
pattern readwrite private/#
");
        let alice = who("c1", Some("alice"));
        let bob = who("c1", Some("bob"));
        assert_eq!(acl.check_publish(&alice, "clients/c1/secret"), Deny);
        assert_eq!(acl.check_publish(&bob, "clients/c1/secret"), Allow);
        // Mosquitto checks the user's list completely before any pattern.
        assert_eq!(acl.check_publish(&alice, "shared/c1"), Allow);
        assert_eq!(acl.check_publish(&bob, "shared/c1"), Deny);
        // Within the patterns, deny first.
        assert_eq!(acl.check_publish(&bob, "private/c1"), Deny);
        assert_eq!(acl.check_publish(&bob, "private/c2"), Allow);
    }

    #[test]
    fn patterns_substitute_whole_levels() {
        let acl = acl(ACL);
        assert_eq!(
            acl.check_publish(&who("dev1", None), "clients/dev1/state"),
            Allow
        );
        assert_eq!(acl.check_publish(&who("dev1", None), "clients/dev1"), Allow);
        assert_eq!(
            acl.check_subscribe(&who("dev1", None), "clients/dev1/#"),
            Allow
        );
        assert_eq!(
            acl.check_publish(&who("dev1", None), "clients/dev2/state"),
            Deny
        );
        assert_eq!(
            acl.check_publish(&who("x", Some("bob")), "users/bob/out"),
            Allow
        );
        assert_eq!(
            acl.check_subscribe(&who("x", Some("bob")), "users/bob/out"),
            Deny
        );
        // No user name: %u patterns do not apply (nor match an empty level).
        assert_eq!(acl.check_publish(&who("x", None), "users//out"), Deny);
        assert_eq!(acl.check_publish(&who("x", None), "users/%u/out"), Deny);
        // Empty client id (assigned later by the broker): %c patterns do not apply.
        assert_eq!(acl.check_publish(&who("", None), "clients//x"), Deny);
        // A value spanning levels cannot stand for one level.
        assert_eq!(acl.check_publish(&who("a/b", None), "clients/a/b/x"), Deny);
        // `%c` inside a level is literal text, as in Mosquitto 2.1 and its manual.
        let acl = self::acl("pattern write dev_%c/%c\n");
        assert_eq!(acl.check_publish(&who("k", None), "dev_%c/k"), Allow);
        assert_eq!(acl.check_publish(&who("k", None), "dev_k/k"), Deny);
        // Both placeholders, repeated.
        let acl = self::acl("pattern %c/%u/%c\n");
        assert_eq!(acl.check_publish(&who("k", Some("u")), "k/u/k"), Allow);
        assert_eq!(acl.check_publish(&who("k", Some("u")), "k/u/u"), Deny);
    }

    #[test]
    fn wildcard_client_ids_and_user_names_get_nothing_from_patterns() {
        // CVE-2017-7650: `#` as client id must not turn clients/%c/# into clients/#/#.
        let acl =
            acl("user eve\ntopic read news\npattern readwrite clients/%c/#\npattern read open/#\n");
        for client in [
            who("#", None),
            who("+", None),
            who("a+b", Some("x")),
            who("c", Some("e#")),
        ] {
            assert_eq!(
                acl.check_subscribe(&client, "clients/#"),
                Deny,
                "{client:?}"
            );
            // Every pattern is off for such a client, even one without placeholders.
            assert_eq!(acl.check_subscribe(&client, "open/x"), Deny, "{client:?}");
        }
        // The user's own rules still apply.
        assert_eq!(acl.check_subscribe(&who("#", Some("eve")), "news"), Allow);
    }

    #[test]
    fn acl_wildcards_match_topics() {
        let acl = acl("topic write a/+/c\ntopic write b/#\n");
        let anon = who("x", None);
        assert_eq!(acl.check_publish(&anon, "a/b/c"), Allow);
        assert_eq!(acl.check_publish(&anon, "a//c"), Allow);
        assert_eq!(acl.check_publish(&anon, "a/b/c/d"), Deny);
        assert_eq!(acl.check_publish(&anon, "a/c"), Deny);
        assert_eq!(acl.check_publish(&anon, "b"), Allow);
        assert_eq!(acl.check_publish(&anon, "b/x/y"), Allow);
        assert_eq!(acl.check_publish(&anon, "bb"), Deny);
    }

    #[test]
    fn subscription_coverage_is_wildcard_aware() {
        let covers = |rule, filter| covers_filter(Levels::plain(rule), filter);
        assert!(covers("a/#", "a/+/b"));
        assert!(covers("a/#", "a"));
        assert!(covers("a/#", "a/#"));
        assert!(covers("a/+", "a/b"));
        assert!(covers("a/+", "a/+"));
        assert!(covers("a/+/#", "a/b"));
        assert!(covers("#", "#"));
        assert!(!covers("a/+", "a/#"));
        assert!(!covers("a/+", "a"));
        assert!(!covers("a/b", "a/+"));
        assert!(!covers("a/b", "a/#"));
        assert!(!covers("a/b", "a/b/c"));
        assert!(!covers("#", "$SYS/x"));
        assert!(!covers("+/x", "$SYS/x"));
        assert!(!covers("$SYS/#", "#"));
        assert!(covers("$SYS/#", "$SYS/x"));
        assert!(covers("$SYS/+/x", "$SYS/+/x"));
    }

    #[test]
    fn dollar_topics_need_dollar_rules() {
        let acl = acl("topic #\ntopic read $SYS/broker/#\n");
        let anon = who("x", None);
        assert_eq!(acl.check_publish(&anon, "a/b"), Allow);
        assert_eq!(acl.check_publish(&anon, "$SYS/broker/x"), Deny);
        assert_eq!(acl.check_delivery(&anon, "$SYS/other"), Deny);
        assert_eq!(acl.check_delivery(&anon, "$SYS/broker/uptime"), Allow);
        assert_eq!(acl.check_subscribe(&anon, "$SYS/#"), Deny);
        assert_eq!(acl.check_subscribe(&anon, "$SYS/broker/#"), Allow);
        assert_eq!(acl.check_subscribe(&anon, "#"), Allow);
    }

    #[test]
    fn an_empty_file_refuses_everything() {
        for acl in [acl(""), acl("# nothing\n\n"), AclFile::default()] {
            assert_eq!(acl.check_publish(&who("x", None), "a"), Deny);
            assert_eq!(acl.check_subscribe(&who("x", Some("u")), "a"), Deny);
        }
    }

    #[test]
    fn authorizer_checks_the_filter_of_a_shared_subscription() {
        use futures::executor::block_on;
        let acl: Arc<dyn Authorizer> = Arc::new(acl(ACL));
        let alice = who("c1", Some("alice"));
        let filter = |f| TopicFilter::try_from(f).unwrap();
        let topic = |t| TopicName::try_from(t).unwrap();
        let sub = |f| block_on(acl.authorize_subscribe(&alice, &filter(f)));
        assert_eq!(sub("$share/g/alice/x"), Allow);
        assert_eq!(sub("$share/alice/other/x"), Deny);
        assert_eq!(sub("$share/g/alice/secret"), Deny);
        assert_eq!(
            block_on(acl.authorize_publish(&alice, &topic("alice/x"))),
            Allow
        );
        assert_eq!(
            block_on(acl.authorize_publish(&alice, &topic("bob/x"))),
            Deny
        );
        assert_eq!(
            block_on(acl.authorize_delivery(&alice, &topic("alice/secret"))),
            Deny
        );
        assert_eq!(
            block_on(acl.authorize_delivery(&alice, &topic("alice/x"))),
            Allow
        );
    }

    #[test]
    fn parse_errors_name_the_line() {
        for (text, line) in [
            ("bogus x", 1),
            ("user alice\ntopic read a/#/b", 2),
            ("\n\n  user  ", 3),
            ("pattern", 1),
            ("topic   ", 1),
            ("topic reed a/b", 1),
            ("topic read a+", 1),
            ("topic write a/b#", 1),
            ("# ok\ntopic deny a\npattern readwrite x/%c/#/y", 3),
            ("topic read a\u{0}b", 1),
            ("Topic a", 1),
        ] {
            match AclFile::parse(text) {
                Err(e @ AclError::Line { line: l, .. }) => {
                    assert_eq!(l, line, "{text:?}: {e}");
                    assert!(e
                        .to_string()
                        .starts_with(&format!("ACL file line {line}: ")));
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
        // Indented comments, CRLF and a byte order mark are fine.
        assert!(AclFile::parse("\u{feff}  # c\r\ntopic a\r\n\tuser u\r\n").is_ok());
    }

    #[test]
    fn reload_swaps_the_rules_for_every_clone() {
        let dir = std::env::temp_dir().join(format!("starling-acl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("acl");
        std::fs::write(&path, "topic a\n").unwrap();
        let acl = AclFile::load(&path).unwrap();
        let held_by_broker = acl.clone();
        let anon = who("x", None);
        assert_eq!(held_by_broker.check_publish(&anon, "a"), Allow);

        std::fs::write(&path, "topic b\n").unwrap();
        acl.reload().unwrap();
        assert_eq!(held_by_broker.check_publish(&anon, "a"), Deny);
        assert_eq!(held_by_broker.check_publish(&anon, "b"), Allow);

        std::fs::write(&path, "topic b\nnonsense\n").unwrap();
        assert!(matches!(acl.reload(), Err(AclError::Line { line: 2, .. })));
        assert_eq!(held_by_broker.check_publish(&anon, "b"), Allow);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(acl.reload(), Err(AclError::Io(_))));

        acl.reload_from_str("topic c").unwrap();
        assert_eq!(held_by_broker.check_publish(&anon, "c"), Allow);
        let parsed: AclFile = "topic d".parse().unwrap();
        parsed.reload().unwrap();
        assert_eq!(parsed.path(), None);
        assert_eq!(parsed.check_publish(&anon, "d"), Allow);
    }

    proptest::proptest! {
        #[test]
        fn parsing_and_checking_arbitrary_input_never_panics(
            text in "((user|topic|pattern|read|deny|#|%c|%u|\\+|/| |\n|\\PC){0,12}){0,6}",
            id in "[a-z+#/%c]{0,4}",
            topic in "[a-z/$+#]{1,8}",
        ) {
            if let Ok(acl) = AclFile::parse(&text) {
                let client = who(&id, Some(&id));
                let _ = acl.check_publish(&client, &topic);
                let _ = acl.check_subscribe(&client, &topic);
                let _ = acl.check_delivery(&client, &topic);
            }
        }
    }
}
