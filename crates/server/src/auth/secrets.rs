//! Secrets: argon2id password hashes, random bearer tokens, and the SHA-256
//! form in which the store keeps tokens.
//!
//! Tokens carry a prefix naming their kind (`plo_` operator, `pln_` node
//! credential, `ple_` enrolment secret) so a leaked one is recognisable and a
//! token of the wrong kind is refused before any lookup. The random part is
//! 32 bytes from the thread CSPRNG, hex-encoded. Tokens are high-entropy, so
//! a plain SHA-256 (not a slow password hash) is enough to make the stored
//! form useless to a reader of the database, and it can be looked up by
//! equality through an index.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};

/// What a random token authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPrefix {
    /// An operator session or API token.
    Operator,
    /// A node credential.
    Node,
    /// An enrolment secret.
    Enrolment,
}

impl TokenPrefix {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPrefix::Operator => "plo_",
            TokenPrefix::Node => "pln_",
            TokenPrefix::Enrolment => "ple_",
        }
    }

    /// Whether `token` is of this kind (by its prefix alone).
    pub fn matches(self, token: &str) -> bool {
        token.starts_with(self.as_str())
    }
}

/// Bytes of randomness in a token.
const TOKEN_RANDOM_BYTES: usize = 32;

/// A fresh random token: prefix + 64 lower-case hex digits.
pub fn generate_token(prefix: TokenPrefix) -> String {
    let mut random = [0u8; TOKEN_RANDOM_BYTES];
    rand::fill(&mut random);
    format!("{}{}", prefix.as_str(), hex::encode(random))
}

/// The stored form of a token: lower-case hex SHA-256 of its text.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh random id (uuid v4, simple form) for stored records.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// The argon2id (default parameters) PHC string of a password, with a
/// random salt.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|error| PasswordError::Hash(error.to_string()))
}

/// Whether `password` matches the stored PHC string. An unparsable stored
/// hash verifies nothing.
pub fn verify_password(password: &str, stored_hash: &str) -> bool {
    match PasswordHash::new(stored_hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_hash_stably() {
        let first = generate_token(TokenPrefix::Operator);
        let second = generate_token(TokenPrefix::Operator);
        assert!(first.starts_with("plo_"));
        assert_eq!(first.len(), 4 + 64);
        assert_ne!(first, second);
        assert!(TokenPrefix::Operator.matches(&first));
        assert!(!TokenPrefix::Node.matches(&first));
        assert!(generate_token(TokenPrefix::Node).starts_with("pln_"));
        assert!(generate_token(TokenPrefix::Enrolment).starts_with("ple_"));

        assert_eq!(token_hash(&first), token_hash(&first));
        assert_ne!(token_hash(&first), token_hash(&second));
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("correct horse").unwrap_or_default();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horse!", &hash));
        assert!(!verify_password("correct horse", "not a phc string"));
        let again = hash_password("correct horse").unwrap_or_default();
        assert_ne!(hash, again, "each hash has its own salt");
    }

    #[test]
    fn ids_are_simple_uuids() {
        let id = new_id();
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(id, new_id());
    }
}
