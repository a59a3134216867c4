package identity

import "context"

// Passkeys is the passkey store and verifier (package identity/passkey).
type Passkeys interface {
	Count(ctx context.Context, userID int64) (int, error)
}
