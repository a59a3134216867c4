package ledger

// SetHistoryChunk makes the history indexer copy at most n postings a
// step, until the returned function puts the default back.
func SetHistoryChunk(n int) (restore func()) {
	old := historyChunk
	historyChunk = n
	return func() { historyChunk = old }
}
