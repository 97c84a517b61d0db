//! Encryption at rest of the Kommo OAuth tokens: AES-256-GCM (ring) with a random 96-bit nonce per
//! value and the account id as associated data, so a sealed token copied to another account's row
//! does not open.
//!
//! Stored form: base64 of `nonce || ciphertext || tag`. The key is the `token_encryption_key`
//! setting (base64 of 32 bytes).

use base64::{engine::general_purpose::STANDARD, Engine};
use ring::{
    aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN},
    rand::{SecureRandom, SystemRandom},
};
use secrecy::{ExposeSecret, SecretString};

/// Why a value could not be sealed or opened. Never carries key or plaintext material.
#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    /// The configured key is not base64 of exactly 32 bytes.
    #[error("token_encryption_key must be base64 of exactly 32 bytes")]
    BadKey,
    /// The system random generator failed.
    #[error("no randomness available for a nonce")]
    NoRandomness,
    /// The stored value is damaged, or was sealed with another key or for another account.
    #[error("a stored token could not be decrypted (wrong key or damaged value)")]
    Undecryptable,
}

/// Seals and opens secrets with the configured key.
pub struct TokenCipher {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for TokenCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCipher(AES-256-GCM, key hidden)")
    }
}

impl TokenCipher {
    /// A cipher for the base64 `key` setting.
    pub fn from_base64_key(key: &SecretString) -> Result<Self, CipherError> {
        let bytes = STANDARD
            .decode(key.expose_secret().trim())
            .map_err(|_| CipherError::BadKey)?;
        if bytes.len() != 32 {
            return Err(CipherError::BadKey);
        }
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| CipherError::BadKey)?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
            rng: SystemRandom::new(),
        })
    }

    /// Encrypts `plaintext` for the row of `account_id`.
    pub fn seal(&self, account_id: i64, plaintext: &SecretString) -> Result<String, CipherError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| CipherError::NoRandomness)?;
        let mut data = plaintext.expose_secret().as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(account_id.to_be_bytes()),
                &mut data,
            )
            .map_err(|_| CipherError::NoRandomness)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(STANDARD.encode(out))
    }

    /// Decrypts a value sealed by [`seal`](Self::seal) for the same account.
    pub fn open(&self, account_id: i64, sealed: &str) -> Result<SecretString, CipherError> {
        let raw = STANDARD
            .decode(sealed)
            .map_err(|_| CipherError::Undecryptable)?;
        if raw.len() < NONCE_LEN {
            return Err(CipherError::Undecryptable);
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| CipherError::Undecryptable)?;
        let mut data = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(account_id.to_be_bytes()), &mut data)
            .map_err(|_| CipherError::Undecryptable)?;
        let text = String::from_utf8(plain.to_vec()).map_err(|_| CipherError::Undecryptable)?;
        Ok(SecretString::from(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher(key: &str) -> TokenCipher {
        TokenCipher::from_base64_key(&SecretString::from(key.to_string())).expect("key")
    }

    const KEY: &str = "cnVsZWJvb2stc2FuZGJveC10b2tlbi1rZXktMzJieXQ=";
    const OTHER_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    #[test]
    fn a_sealed_token_opens_for_its_account_and_hides_the_plaintext() {
        let c = cipher(KEY);
        let sealed = c.seal(7, &SecretString::from("access-123")).expect("seal");
        assert!(!sealed.contains("access-123"));
        assert_eq!(
            c.open(7, &sealed).expect("open").expose_secret(),
            "access-123"
        );
    }

    #[test]
    fn two_seals_of_one_token_differ() {
        let c = cipher(KEY);
        let token = SecretString::from("same");
        assert_ne!(
            c.seal(7, &token).expect("seal"),
            c.seal(7, &token).expect("seal")
        );
    }

    #[test]
    fn a_token_does_not_open_for_another_account_another_key_or_when_damaged() {
        let sealed = cipher(KEY)
            .seal(7, &SecretString::from("access-123"))
            .expect("seal");
        assert!(matches!(
            cipher(KEY).open(8, &sealed),
            Err(CipherError::Undecryptable)
        ));
        assert!(matches!(
            cipher(OTHER_KEY).open(7, &sealed),
            Err(CipherError::Undecryptable)
        ));
        let mut damaged = sealed.into_bytes();
        damaged[20] = if damaged[20] == b'A' { b'B' } else { b'A' };
        let damaged = String::from_utf8(damaged).expect("ascii");
        assert!(matches!(
            cipher(KEY).open(7, &damaged),
            Err(CipherError::Undecryptable)
        ));
        assert!(matches!(
            cipher(KEY).open(7, "%%%"),
            Err(CipherError::Undecryptable)
        ));
    }

    #[test]
    fn keys_of_the_wrong_length_are_refused() {
        for key in ["", "c2hvcnQ=", "not base64!"] {
            assert!(matches!(
                TokenCipher::from_base64_key(&SecretString::from(key.to_string())),
                Err(CipherError::BadKey)
            ));
        }
    }
}
