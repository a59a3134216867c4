// Package otp makes and checks the one-time codes of OKPay's second factors
// and account recovery. It holds no state and touches no database: callers
// store what it returns and enforce TTLs, attempt limits and single use.
//
//   - Numeric codes (SMS OTP, MFA-02; reset code, REC-03): NewCode draws
//     each digit from crypto/rand by rejection sampling (bytes ≥ 250 are
//     thrown away), so every code is equally likely. Codes are never stored
//     in plaintext: CodeMAC binds a code to its flow with a keyed
//     HMAC-SHA256 (secret.MAC) over length-prefixed (flow id, code), so a
//     code from flow A never matches flow B. ParseCode normalises what a
//     person types ("123 456", "123-456", full-width digits).
//
//   - TOTP (MFA-05): RFC 6238 with SHA-1, 6 digits and 30 s steps, as
//     authenticator apps expect. Secrets are 20 bytes from crypto/rand; the
//     caller seals them with secret.Sealer (binary column, never base32).
//     CheckTOTP accepts the current and the previous step only, and only a
//     step greater than the last one used: the caller stores the returned
//     step with a compare-and-swap on last_step, which rejects a replayed
//     code, two concurrent submits of one code, and the setup code reused as
//     the first login code.
//
//   - Recovery codes (MFA-07): SECURITY.md asks for IIII-SSSS-SSSS, "a
//     4-character index plus a secret of ≥60 bits". Eight base32 characters
//     carry only 40 bits, so codes here are IIII-SSSS-SSSS-SSSS: a 4-char
//     index (20 bits, unique within a set, used to look up the one row whose
//     argon2id hash is checked) and a 12-char secret of 60 bits, in upper
//     case Crockford base32 (no I, L, O, U). ParseRecoveryCode accepts lower
//     case, missing or extra dashes and spaces, and maps O→0, I/L→1.
package otp
