package wallet

import (
	"context"
	"encoding/csv"
	"io"
	"time"

	"github.com/okpay/okpay/i18n"
)

// MaxExportRows bounds one CSV export.
const MaxExportRows = 10000

// ExportCSV writes userID's transactions matching f (its Cursor and Limit
// are ignored), newest first, as CSV: one header line, then one line per
// transaction, at most MaxExportRows. Amounts are unsigned decimals with
// a direction column (in, out, exchange), so no cell is a negative
// number; every cell that a spreadsheet could read as a formula is
// neutralised (CSVSafe).
func (s *Service) ExportCSV(ctx context.Context, w io.Writer, userID int64, f Filter, lang i18n.Lang) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"id", "created_at", "type", "direction", "status", "amount", "fee", "currency",
		"other_amount", "other_currency", "counterparty", "note", "failure"}); err != nil {
		return err
	}
	f.Cursor, f.Limit = "", MaxPage
	rows := 0
	for rows < MaxExportRows {
		p, err := s.FindTransactions(ctx, userID, f)
		if err != nil {
			return err
		}
		for _, t := range p.Txns {
			other, otherCur := "", ""
			if t.Other.Currency != "" {
				other, otherCur = t.Other.String(), string(t.Other.Currency)
			}
			rec := []string{t.Ref(), t.CreatedAt.UTC().Format(time.RFC3339), string(t.Type), t.Direction(), string(t.Status),
				t.Amount.String(), t.Fee.String(), string(t.Amount.Currency), other, otherCur, t.Counterparty, t.Note, s.FailureText(t, lang)}
			for i := range rec {
				rec[i] = CSVSafe(rec[i])
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
			rows++
		}
		if !p.HasMore {
			break
		}
		f.Cursor = p.NextCursor
	}
	cw.Flush()
	return cw.Error()
}

// CSVSafe neutralises a cell against formula injection (OWASP "CSV
// Injection"): a cell starting with '=', '+', '-', '@', a tab or a
// carriage return is prefixed with a single quote, so spreadsheets show
// it as text instead of evaluating it.
func CSVSafe(cell string) string {
	if cell == "" {
		return cell
	}
	switch cell[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + cell
	}
	return cell
}
