package help

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// BenchmarkSearch measures Search (ranking, loading the hits and their
// snippets: the whole service call) over generated articles, half in
// each language, on both engines. OKPAY_HELP_BENCH_SIZES sets the sizes
// (default "10000,100000"). Each sub-benchmark reports p50 and p99 in
// milliseconds. See bench-results/help.md.
//
//	go test -run '^$' -bench Search -benchtime 2000x ./help/
func BenchmarkSearch(b *testing.B) {
	sizes := []int{10_000, 100_000}
	if v := os.Getenv("OKPAY_HELP_BENCH_SIZES"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				b.Fatal(err)
			}
			sizes = append(sizes, n)
		}
	}
	for _, d := range sqldbtest.Dialects {
		for _, n := range sizes {
			b.Run(fmt.Sprintf("%s/%d", d, n), func(b *testing.B) {
				db := sqldbtest.Open(b, d)
				s, _ := newTestService(b, db)
				ctx := context.Background()
				if _, err := s.LoadShipped(ctx); err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if err := bulkArticles(ctx, s, n); err != nil {
					b.Fatal(err)
				}
				if d == sqldb.Postgres {
					db.Write.ExecContext(ctx, `ANALYZE`)
				} else {
					db.Write.ExecContext(ctx, `INSERT INTO help_fts(help_fts) VALUES ('optimize')`)
					db.Write.ExecContext(ctx, `INSERT INTO help_fts_head(help_fts_head) VALUES ('optimize')`)
				}
				b.Logf("%s: %d articles loaded in %s", d, n, time.Since(start).Round(time.Millisecond))
				queries := benchQueries()
				b.ResetTimer()
				cpu0 := cpuTime()
				var lat []time.Duration
				for i := 0; b.Loop(); i++ {
					q := queries[i%len(queries)]
					t0 := time.Now()
					res, err := s.Search(ctx, q.q, q.lang, 10)
					lat = append(lat, time.Since(t0))
					if err != nil || len(res.Hits) == 0 {
						b.Fatalf("%q: %v (%d hits)", q.q, err, len(res.Hits))
					}
				}
				cpu := cpuTime() - cpu0
				slices.Sort(lat)
				ms := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
				b.ReportMetric(ms(0.50), "p50-ms")
				b.ReportMetric(ms(0.99), "p99-ms")
				// The process's CPU time per search: what a search costs
				// whatever else the machine is running.
				b.ReportMetric(float64(cpu)/float64(len(lat))/1e6, "cpu-ms/op")
			})
		}
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchQueries() []struct {
	q    string
	lang i18n.Lang
} {
	var out []struct {
		q    string
		lang i18n.Lang
	}
	for _, c := range searchCases {
		out = append(out, struct {
			q    string
			lang i18n.Lang
		}{c.q, c.lang})
	}
	return out
}

// bulkArticles adds n generated, published articles (half per language)
// in large transactions: words drawn from the shipped articles, so the
// queries match many of them, as in a real help center that grew.
func bulkArticles(ctx context.Context, s *Service, n int) error {
	all, err := Shipped()
	if err != nil {
		return err
	}
	words := map[i18n.Lang][]string{}
	for _, in := range all {
		txt := s.render.Text(in.Body)
		if in.Locale == i18n.ZhCN {
			for _, r := range strings.Fields(txt) {
				for len(r) > 0 {
					k := min(len([]rune(r)), 2+len(r)%3)
					words[in.Locale] = append(words[in.Locale], string([]rune(r)[:k]))
					r = string([]rune(r)[k:])
				}
			}
		} else {
			words[in.Locale] = append(words[in.Locale], strings.Fields(txt)...)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	gen := func(l i18n.Lang, k int) string {
		w := words[l]
		var b strings.Builder
		for i := range k {
			if i > 0 && l == i18n.En {
				b.WriteByte(' ')
			}
			b.WriteString(w[rng.IntN(len(w))])
		}
		return b.String()
	}
	const batch = 2000
	for done := 0; done < n; done += batch {
		err := s.db.InTx(ctx, func(tx *sql.Tx) error {
			for i := done; i < min(n, done+batch); i++ {
				l := i18n.Langs()[i%2]
				in := Input{Slug: fmt.Sprintf("gen-%d", i), Locale: l, Category: Categories()[i%5],
					Title: gen(l, 6), Keywords: gen(l, 4), Body: gen(l, 40) + "\n\n" + gen(l, 60), Note: "generated"}
				if _, err := s.create(ctx, tx, 0, in, true); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
