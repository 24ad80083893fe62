//! Password files: Mosquitto 2's `user:$7$<iterations>$<salt b64>$<hash b64>` (PBKDF2-HMAC-
//! SHA512, 64-byte hash) and argon2id PHC strings (`user:$argon2id$v=19$…`).

use super::{AuthDecision, Authenticator, BoxFuture, ConnectCredentials};
use argon2::{password_hash::PasswordHash, Argon2, PasswordHasher, PasswordVerifier};
use base64::{engine::general_purpose::STANDARD, Engine};
use sha2::Sha512;
use starling_codec::ReasonCode;
use std::{collections::HashMap, path::Path, sync::Arc};
use subtle::ConstantTimeEq;

/// A problem in a password file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The file could not be read.
    #[error("cannot read password file: {0}")]
    Io(#[from] std::io::Error),
    /// A line is not `user:hash` with a supported hash.
    #[error("password file line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

#[derive(Debug, Clone)]
enum Hash {
    Pbkdf2 {
        iterations: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    Argon2(String),
}

/// A parsed password file; an [`Authenticator`].
#[derive(Debug, Clone, Default)]
pub struct PasswordFile {
    users: Arc<HashMap<String, Hash>>,
}

impl PasswordFile {
    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<PasswordFile, PasswordError> {
        PasswordFile::parse(&std::fs::read_to_string(path)?)
    }

    /// Parses the text of a password file. Blank lines and `#` comments are ignored.
    pub fn parse(text: &str) -> Result<PasswordFile, PasswordError> {
        let mut users = HashMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let err = |reason| PasswordError::Line {
                line: i + 1,
                reason,
            };
            let (user, hash) = line.split_once(':').ok_or(err("expected user:hash"))?;
            if user.is_empty() {
                return Err(err("empty user name"));
            }
            users.insert(
                user.to_owned(),
                parse_hash(hash).ok_or(err("unsupported or malformed hash"))?,
            );
        }
        Ok(PasswordFile {
            users: Arc::new(users),
        })
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the file has no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Checks a user name and password (CPU-heavy: call from a blocking context).
    pub fn verify(&self, user: &str, password: &[u8]) -> bool {
        match self.users.get(user) {
            Some(Hash::Pbkdf2 {
                iterations,
                salt,
                hash,
            }) => {
                let mut out = vec![0u8; hash.len()];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, *iterations, &mut out);
                out.ct_eq(hash).into()
            }
            Some(Hash::Argon2(phc)) => PasswordHash::new(phc)
                .map(|h| Argon2::default().verify_password(password, &h).is_ok())
                .unwrap_or(false),
            None => false,
        }
    }
}

fn parse_hash(s: &str) -> Option<Hash> {
    if let Some(rest) = s.strip_prefix("$7$") {
        let mut parts = rest.split('$');
        let iterations: u32 = parts.next()?.parse().ok().filter(|n| *n > 0)?;
        let salt = STANDARD.decode(parts.next()?).ok()?;
        let hash = STANDARD.decode(parts.next()?).ok()?;
        if parts.next().is_some() || hash.is_empty() {
            return None;
        }
        return Some(Hash::Pbkdf2 {
            iterations,
            salt,
            hash,
        });
    }
    if s.starts_with("$argon2id$") && PasswordHash::new(s).is_ok() {
        return Some(Hash::Argon2(s.to_owned()));
    }
    None
}

fn salt(len: usize) -> Vec<u8> {
    let mut salt = vec![0u8; len];
    // The OS random source failing is not recoverable for hashing; an all-zero salt would be
    // silently weak, so fall back to a time-derived one only in that unlikely case.
    if getrandom::getrandom(&mut salt).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        for (i, b) in salt.iter_mut().enumerate() {
            *b = (t >> ((i % 16) * 8)) as u8;
        }
    }
    salt
}

/// Hashes a password in Mosquitto 2's `$7$` format (PBKDF2-HMAC-SHA512, 12-byte salt).
pub fn hash_password_pbkdf2(password: &str, iterations: u32) -> String {
    let salt = salt(12);
    let mut out = [0u8; 64];
    pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), &salt, iterations.max(1), &mut out);
    format!(
        "$7${}${}${}",
        iterations.max(1),
        STANDARD.encode(&salt),
        STANDARD.encode(out)
    )
}

/// Hashes a password with argon2id (default parameters) as a PHC string.
pub fn hash_password_argon2id(password: &str) -> String {
    let salt = argon2::password_hash::SaltString::encode_b64(&salt(16));
    match salt {
        Ok(salt) => Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .unwrap_or_else(|_| hash_password_pbkdf2(password, 101)),
        Err(_) => hash_password_pbkdf2(password, 101),
    }
}

impl Authenticator for PasswordFile {
    fn authenticate<'a>(&'a self, c: &'a ConnectCredentials) -> BoxFuture<'a, AuthDecision> {
        let file = self.clone();
        let user = c.username.clone();
        let password = c.password.clone();
        Box::pin(async move {
            let (Some(user), Some(password)) = (user, password) else {
                return AuthDecision::Deny(ReasonCode::BadUserNameOrPassword);
            };
            // Hash verification is deliberately slow: keep it off the async workers.
            let ok = tokio::task::spawn_blocking(move || file.verify(&user, &password))
                .await
                .unwrap_or(false);
            if ok {
                AuthDecision::Allow
            } else {
                AuthDecision::Deny(ReasonCode::BadUserNameOrPassword)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Generated once with `mosquitto_passwd -b -c pw alice secret` (mosquitto 2.0.11).
    const ALICE: &str = "alice:$7$101$XCKSUCGXArL0RPDz$lx+t7LjMdTHLCxpQsMmskWlmwKShYcyS8b9huRDepNXjGCr1MVOBUTMLkJ9LY3nCk0AILMnrD7J8sX4LOnG4Pw==";

    #[test]
    fn mosquitto_pbkdf2_lines_verify() {
        let f = PasswordFile::parse(&format!("# users\n\n{ALICE}\n")).unwrap();
        assert!(f.verify("alice", b"secret"));
        assert!(!f.verify("alice", b"Secret"));
        assert!(!f.verify("bob", b"secret"));
    }

    #[test]
    fn mosquitto_passwd_output_verifies_when_available() {
        let dir = std::env::temp_dir().join(format!("starling-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pw");
        let status = std::process::Command::new("mosquitto_passwd")
            .args(["-b", "-c"])
            .arg(&path)
            .args(["carol", "p@ss:word"])
            .status()
            .expect("mosquitto_passwd missing: run scripts/install-test-deps.sh");
        assert!(status.success());
        let f = PasswordFile::load(&path).unwrap();
        assert!(f.verify("carol", b"p@ss:word"));
        assert!(!f.verify("carol", b"p@ss"));
    }

    #[test]
    fn our_hashes_round_trip() {
        let text = format!(
            "a:{}\nb:{}\n",
            hash_password_argon2id("one"),
            hash_password_pbkdf2("two", 101)
        );
        let f = PasswordFile::parse(&text).unwrap();
        assert!(f.verify("a", b"one") && !f.verify("a", b"two"));
        assert!(f.verify("b", b"two") && !f.verify("b", b"one"));
    }

    #[test]
    fn malformed_lines_report_their_number() {
        for (text, line) in [
            ("ok\n", 1),
            (&format!("{ALICE}\nbob:$7$x$y$z") as &str, 2),
            ("c:plain", 1),
            (":$7$1$a$b", 1),
        ] {
            match PasswordFile::parse(text) {
                Err(PasswordError::Line { line: l, .. }) => assert_eq!(l, line, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn authenticator_answers_bad_user_name_or_password() {
        let f = PasswordFile::parse(ALICE).unwrap();
        let mut c = ConnectCredentials {
            client_id: "x".into(),
            username: Some("alice".into()),
            password: Some(bytes::Bytes::from_static(b"secret")),
            remote_addr: None,
            protocol: starling_codec::ProtocolVersion::V5,
        };
        assert_eq!(f.authenticate(&c).await, AuthDecision::Allow);
        c.password = Some(bytes::Bytes::from_static(b"nope"));
        assert_eq!(
            f.authenticate(&c).await,
            AuthDecision::Deny(ReasonCode::BadUserNameOrPassword)
        );
        c.password = None;
        assert_eq!(
            f.authenticate(&c).await,
            AuthDecision::Deny(ReasonCode::BadUserNameOrPassword)
        );
    }
}
