package ledger

import "github.com/okpay/okpay/sqldb"

func isUnique(err error) bool    { return sqldb.IsUniqueViolation(err) }
func isRetryable(err error) bool { return sqldb.IsRetryable(err) }
