package sqldb

import "context"

// DownTo rolls the migrations back to version (tests of data migrations).
func DownTo(ctx context.Context, db *DB, version int64) error {
	p, err := db.provider()
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, version)
	return err
}
