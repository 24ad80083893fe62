//! Mosquitto-syntax ACL files.
//!
//! - `topic [read|write|readwrite|deny] <topic>` — before any `user` line it applies to
//!   anonymous clients; after `user <name>` to that user. Access defaults to `readwrite`.
//! - `pattern [read|write|readwrite|deny] <topic>` — applies to every client, with `%c`
//!   replaced by the client id and `%u` by the user name (a pattern needing a value the client
//!   lacks, or a value containing `/`, `+` or `#`, does not apply).
//! - A matching `deny` wins over any grant; without a grant, access is denied.

use super::{Access, Authorizer, BoxFuture, ClientIdentity};
use starling_codec::{TopicFilter, TopicName};
use std::{collections::HashMap, path::Path, sync::Arc};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
    ReadWrite,
    Deny,
}

#[derive(Debug, Clone)]
struct Rule {
    kind: Kind,
    topic: String,
}

#[derive(Debug, Default)]
struct Rules {
    anonymous: Vec<Rule>,
    users: HashMap<String, Vec<Rule>>,
    patterns: Vec<Rule>,
}

/// A parsed ACL file; an [`Authorizer`].
#[derive(Debug, Clone, Default)]
pub struct AclFile {
    rules: Arc<Rules>,
}

fn parse_rule(rest: &str) -> Option<Rule> {
    let rest = rest.trim();
    let (first, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let kind = match first {
        "read" => Some(Kind::Read),
        "write" => Some(Kind::Write),
        "readwrite" => Some(Kind::ReadWrite),
        "deny" => Some(Kind::Deny),
        _ => None,
    };
    let (kind, topic) = match kind {
        Some(k) => (k, tail.trim()),
        None => (Kind::ReadWrite, rest),
    };
    // A rule topic is a filter: it must be valid as one (ignoring %c/%u placeholders).
    if topic.is_empty() || TopicFilter::try_from(topic.replace(['%'], "p").as_str()).is_err() {
        return None;
    }
    Some(Rule {
        kind,
        topic: topic.to_owned(),
    })
}

impl AclFile {
    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<AclFile, AclError> {
        AclFile::parse(&std::fs::read_to_string(path)?)
    }

    /// Parses the text of an ACL file.
    pub fn parse(text: &str) -> Result<AclFile, AclError> {
        let mut rules = Rules::default();
        let mut user: Option<String> = None;
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
                    let rule = parse_rule(rest).ok_or(err("invalid topic rule"))?;
                    match &user {
                        Some(u) => rules.users.entry(u.clone()).or_default().push(rule),
                        None => rules.anonymous.push(rule),
                    }
                }
                "pattern" => rules
                    .patterns
                    .push(parse_rule(rest).ok_or(err("invalid pattern rule"))?),
                _ => return Err(err("expected user, topic or pattern")),
            }
        }
        Ok(AclFile {
            rules: Arc::new(rules),
        })
    }

    /// The rules that apply to `client`, placeholders substituted.
    fn rules_for(&self, client: &ClientIdentity) -> Vec<Rule> {
        let own = match &client.username {
            Some(u) => self.rules.users.get(u).cloned().unwrap_or_default(),
            None => self.rules.anonymous.clone(),
        };
        let safe = |v: &str| !v.contains(['/', '+', '#']);
        let patterns = self.rules.patterns.iter().filter_map(|r| {
            let mut topic = r.topic.clone();
            if topic.contains("%c") {
                if !safe(&client.client_id) || client.client_id.is_empty() {
                    return None;
                }
                topic = topic.replace("%c", &client.client_id);
            }
            if topic.contains("%u") {
                let u = client.username.as_deref().filter(|u| safe(u))?;
                topic = topic.replace("%u", u);
            }
            Some(Rule {
                kind: r.kind,
                topic,
            })
        });
        own.into_iter().chain(patterns).collect()
    }

    /// Publish check: `topic` must match a `write`/`readwrite` rule and no `deny` rule.
    pub fn check_publish(&self, client: &ClientIdentity, topic: &str) -> Access {
        decide(self.rules_for(client), Kind::Write, |rule| {
            TopicFilter::try_from(rule).is_ok_and(|f| f.matches(topic))
        })
    }

    /// Subscribe check: a `read`/`readwrite` rule must cover the whole filter (ACL `a/#`
    /// covers `a/+/b`; ACL `a/+` does not cover `a/#`), and no `deny` rule may cover it.
    pub fn check_subscribe(&self, client: &ClientIdentity, filter: &str) -> Access {
        decide(self.rules_for(client), Kind::Read, |rule| {
            covers(rule, filter)
        })
    }
}

fn decide(rules: Vec<Rule>, need: Kind, matches: impl Fn(&str) -> bool) -> Access {
    let applicable: Vec<&Rule> = rules.iter().filter(|r| matches(&r.topic)).collect();
    if applicable.iter().any(|r| r.kind == Kind::Deny) {
        return Access::Deny;
    }
    let granted = applicable
        .iter()
        .any(|r| r.kind == Kind::ReadWrite || r.kind == need);
    if granted {
        Access::Allow
    } else {
        Access::Deny
    }
}

/// Whether every topic matched by `filter` is matched by `rule`.
fn covers(rule: &str, filter: &str) -> bool {
    if filter.starts_with('$') != rule.starts_with('$')
        && (rule.starts_with('+') || rule.starts_with('#'))
    {
        return false;
    }
    let mut r = rule.split('/');
    let mut f = filter.split('/');
    loop {
        match (r.next(), f.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(fl)) if fl != "#" => {}
            (Some(rl), Some(fl)) if rl == fl && fl != "+" && fl != "#" => {}
            (None, None) => return true,
            _ => return false,
        }
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

    fn authorize_subscribe<'a>(
        &'a self,
        client: &'a ClientIdentity,
        filter: &'a TopicFilter,
    ) -> BoxFuture<'a, Access> {
        Box::pin(async move { self.check_subscribe(client, filter.filter()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(id: &str, user: Option<&str>) -> ClientIdentity {
        ClientIdentity {
            client_id: id.into(),
            username: user.map(Into::into),
        }
    }

    const ACL: &str = "\
# anonymous clients
topic read public/#

user alice
topic readwrite alice/#
topic deny alice/secret
topic write sensors/+/temp
topic $SYS/#

user bob
topic read alice/#

pattern readwrite clients/%c/#
pattern write users/%u/out
";

    #[test]
    fn user_sections_and_anonymous() {
        let acl = AclFile::parse(ACL).unwrap();
        let anon = who("a1", None);
        let alice = who("c1", Some("alice"));
        let bob = who("c2", Some("bob"));
        assert_eq!(acl.check_subscribe(&anon, "public/news"), Access::Allow);
        assert_eq!(acl.check_publish(&anon, "public/news"), Access::Deny);
        assert_eq!(acl.check_publish(&alice, "alice/x"), Access::Allow);
        assert_eq!(acl.check_publish(&alice, "public/news"), Access::Deny);
        assert_eq!(acl.check_publish(&bob, "alice/x"), Access::Deny);
        assert_eq!(acl.check_subscribe(&bob, "alice/#"), Access::Allow);
        assert_eq!(acl.check_publish(&alice, "sensors/k/temp"), Access::Allow);
        assert_eq!(
            acl.check_subscribe(&alice, "sensors/k/temp"),
            Access::Deny,
            "write only"
        );
        assert_eq!(
            acl.check_subscribe(&alice, "$SYS/broker/uptime"),
            Access::Allow
        );
    }

    #[test]
    fn deny_wins() {
        let acl = AclFile::parse(ACL).unwrap();
        let alice = who("c1", Some("alice"));
        assert_eq!(acl.check_publish(&alice, "alice/secret"), Access::Deny);
        assert_eq!(acl.check_subscribe(&alice, "alice/secret"), Access::Deny);
        assert_eq!(acl.check_subscribe(&alice, "alice/other"), Access::Allow);
    }

    #[test]
    fn patterns_substitute_client_id_and_user() {
        let acl = AclFile::parse(ACL).unwrap();
        assert_eq!(
            acl.check_publish(&who("dev1", None), "clients/dev1/state"),
            Access::Allow
        );
        assert_eq!(
            acl.check_publish(&who("dev1", None), "clients/dev2/state"),
            Access::Deny
        );
        assert_eq!(
            acl.check_publish(&who("x", Some("bob")), "users/bob/out"),
            Access::Allow
        );
        // No user name: %u patterns do not apply.
        assert_eq!(
            acl.check_publish(&who("x", None), "users//out"),
            Access::Deny
        );
        // A client id with a wildcard cannot widen a pattern.
        assert_eq!(
            acl.check_subscribe(&who("#", None), "clients/#"),
            Access::Deny
        );
    }

    #[test]
    fn subscription_coverage_is_wildcard_aware() {
        assert!(covers("a/#", "a/+/b"));
        assert!(covers("a/#", "a"));
        assert!(covers("a/+", "a/b"));
        assert!(!covers("a/+", "a/#"));
        assert!(!covers("a/b", "a/+"));
        assert!(!covers("#", "$SYS/x"));
        assert!(covers("$SYS/#", "$SYS/x"));
    }

    #[test]
    fn parse_errors_name_the_line() {
        for (text, line) in [
            ("bogus x", 1),
            ("user alice\ntopic read a/#/b", 2),
            ("user", 1),
            ("pattern", 1),
        ] {
            match AclFile::parse(text) {
                Err(AclError::Line { line: l, .. }) => assert_eq!(l, line, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
