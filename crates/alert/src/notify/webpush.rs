//! Web Push (RFC 8030) with VAPID (RFC 8292) and message encryption (RFC 8291,
//! the `aes128gcm` content coding of RFC 8188).
//!
//! The push service (FCM, Mozilla, Apple, or a local one in tests) sees only
//! ciphertext: the payload is encrypted to the browser's key, and our VAPID
//! signature proves to the service that we are the server the browser
//! subscribed with.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hkdf::Hkdf;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::{PublicKey, SecretKey};
use sha2::Sha256;

/// Largest record we send; the push services accept 4096-byte payloads.
const RECORD_SIZE: u32 = 4096;
/// Plaintext limit so that the one record fits: rs − tag − delimiter − header.
pub const MAX_PLAINTEXT: usize = 3993;

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("the subscription's p256dh key is not a P-256 public key")]
    BadPublicKey,
    #[error("the subscription's auth secret must be 16 bytes, base64url")]
    BadAuth,
    #[error("payload of {0} bytes is larger than a push message may be")]
    TooLarge(usize),
    #[error("the endpoint URL has no scheme and host")]
    BadEndpoint,
    #[error("no randomness available: {0}")]
    Random(String),
    #[error("encryption failed")]
    Crypto,
}

fn random<const N: usize>() -> Result<[u8; N], PushError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| PushError::Random(e.to_string()))?;
    Ok(b)
}

/// A fresh P-256 secret key.
pub fn new_secret() -> Result<SecretKey, PushError> {
    loop {
        let bytes: [u8; 32] = random()?;
        // Fails only for zero or ≥ the group order: ~2⁻³² of draws.
        if let Ok(k) = SecretKey::from_slice(&bytes) {
            return Ok(k);
        }
    }
}

fn uncompressed(p: &PublicKey) -> Vec<u8> {
    use p256::elliptic_curve::sec1::ToSec1Point;
    p.as_affine().to_sec1_point(false).as_bytes().to_vec()
}

/// The server's VAPID key pair.
pub struct Vapid {
    signing: SigningKey,
    /// Uncompressed public key, base64url: what browsers pass as
    /// `applicationServerKey` and what the `k=` parameter carries.
    pub public_b64: String,
    /// Contact the push services may use (`mailto:` or `https:`).
    pub subject: String,
}

impl Vapid {
    pub fn from_secret(secret: &SecretKey, subject: String) -> Vapid {
        Vapid {
            signing: SigningKey::from(secret),
            public_b64: B64.encode(uncompressed(&secret.public_key())),
            subject,
        }
    }

    /// `Authorization` header value for a request to `endpoint`.
    pub fn authorization(&self, endpoint: &str, now_s: i64) -> Result<String, PushError> {
        let audience = origin(endpoint).ok_or(PushError::BadEndpoint)?;
        let header = B64.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({
            "aud": audience,
            // At most 24 h ahead (RFC 8292 §2); 12 h leaves room for clock skew.
            "exp": now_s + 12 * 3600,
            "sub": self.subject,
        });
        let claims = B64.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let sig: Signature = self.signing.sign(signing_input.as_bytes());
        let jwt = format!("{signing_input}.{}", B64.encode(sig.to_bytes()));
        Ok(format!("vapid t={jwt}, k={}", self.public_b64))
    }
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!scheme.is_empty() && !host.is_empty()).then(|| format!("{scheme}://{host}"))
}

/// Encrypt `plaintext` for a subscription (`p256dh`, `auth` as the browser
/// gives them, base64url). Returns the `aes128gcm` body.
pub fn encrypt(p256dh: &str, auth: &str, plaintext: &[u8]) -> Result<Vec<u8>, PushError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(PushError::TooLarge(plaintext.len()));
    }
    let ua_public_bytes = decode_b64(p256dh).ok_or(PushError::BadPublicKey)?;
    let ua_public =
        PublicKey::from_sec1_bytes(&ua_public_bytes).map_err(|_| PushError::BadPublicKey)?;
    let auth_secret = decode_b64(auth)
        .filter(|a| a.len() == 16)
        .ok_or(PushError::BadAuth)?;
    let ephemeral = new_secret()?;
    let as_public = uncompressed(&ephemeral.public_key());
    let ua_public_bytes = uncompressed(&ua_public);
    let shared = ephemeral.diffie_hellman(&ua_public);

    // RFC 8291 §3.3: combine the ECDH secret with the auth secret.
    let mut key_info = Vec::with_capacity(14 + 65 + 65);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(&ua_public_bytes);
    key_info.extend_from_slice(&as_public);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(&auth_secret), shared.raw_secret_bytes())
        .expand(&key_info, &mut ikm)
        .map_err(|_| PushError::Crypto)?;

    // RFC 8188 §2.2-2.3: content encryption key and nonce from a random salt.
    let salt: [u8; 16] = random()?;
    let prk = Hkdf::<Sha256>::new(Some(&salt), &ikm);
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .map_err(|_| PushError::Crypto)?;
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
        .map_err(|_| PushError::Crypto)?;

    // One record, so it is the last: delimiter 0x02, no padding.
    let mut record = Vec::with_capacity(plaintext.len() + 1);
    record.extend_from_slice(plaintext);
    record.push(2);
    let cipher = Aes128Gcm::new_from_slice(&cek).map_err(|_| PushError::Crypto)?;
    let sealed = cipher
        .encrypt(&Nonce::from(nonce), record.as_slice())
        .map_err(|_| PushError::Crypto)?;

    let mut body = Vec::with_capacity(16 + 4 + 1 + 65 + sealed.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(as_public.len() as u8);
    body.extend_from_slice(&as_public);
    body.extend_from_slice(&sealed);
    Ok(body)
}

/// Browsers give base64url without padding; accept padding and standard base64 too.
fn decode_b64(s: &str) -> Option<Vec<u8>> {
    let t: String = s
        .trim()
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    B64.decode(t).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_of_endpoints() {
        assert_eq!(
            origin("https://fcm.googleapis.com/fcm/send/abc").as_deref(),
            Some("https://fcm.googleapis.com")
        );
        assert_eq!(
            origin("http://127.0.0.1:9000/push/1").as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert!(origin("nonsense").is_none());
    }

    #[test]
    fn body_layout() {
        let ua = new_secret().unwrap();
        let p256dh = B64.encode(uncompressed(&ua.public_key()));
        let auth = B64.encode([7u8; 16]);
        let body = encrypt(&p256dh, &auth, b"hello").unwrap();
        assert_eq!(&body[16..20], &4096u32.to_be_bytes());
        assert_eq!(body[20], 65);
        assert_eq!(body.len(), 16 + 4 + 1 + 65 + 5 + 1 + 16);
        assert!(matches!(
            encrypt(&p256dh, &B64.encode([1u8; 15]), b"x"),
            Err(PushError::BadAuth)
        ));
    }
}
