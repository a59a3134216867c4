package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestServeSeedsSampleRates: zero configuration (SQLite on loopback, so
// development mode) seeds the embedded sample rates into the empty rates
// table, says so in the log, and serves the exchange: the public rates
// list them and the exchange and remittance pages exist. A second start
// finds rates and seeds nothing.
func TestServeSeedsSampleRates(t *testing.T) {
	t.Chdir(t.TempDir())
	s := startInProc(t, noEnv, "--addr", "127.0.0.1:0")
	if log := s.stderr.String(); !strings.Contains(log, "seeded the embedded sample rates") {
		t.Fatalf("the log does not say the sample rates were seeded:\n%s", log)
	}
	st, _, body := httpGet(t, s.url+"/api/v1/fx/rates?base=USD")
	var rates struct {
		Base  string `json:"base"`
		Rates []struct {
			Quote, Rate, Source string
		} `json:"rates"`
		Unavailable []string `json:"unavailable"`
	}
	if err := json.Unmarshal(body, &rates); st != http.StatusOK || err != nil {
		t.Fatalf("GET /api/v1/fx/rates: %d %s", st, body)
	}
	if rates.Base != "USD" || len(rates.Rates) != 6 || len(rates.Unavailable) != 0 || !strings.HasPrefix(rates.Rates[0].Source, "sample ") {
		t.Fatalf("rates from USD: %s", body)
	}
	for _, p := range []string{"/wallet/exchange", "/wallet/remit"} {
		req, _ := http.NewRequest("GET", s.url+p, nil)
		res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
			t.Errorf("GET %s signed out: %d %q, want 303 to /login", p, res.StatusCode, res.Header.Get("Location"))
		}
	}
	s.stop(t)

	s = startInProc(t, noEnv, "--addr", "127.0.0.1:0")
	if log := s.stderr.String(); strings.Contains(log, "sample rates") || strings.Contains(log, "no exchange rates") {
		t.Errorf("the second start seeded again or found no rates:\n%s", log)
	}
	s.stop(t)
}
