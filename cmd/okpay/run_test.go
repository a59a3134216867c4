package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// ---------------------------------------------------------------------------
// Shared helpers (also used by crash_test.go).

// syncBuffer is a bytes.Buffer safe for one writer goroutine and concurrent
// readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// envOf returns a getenv that knows only m (everything else is "").
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func noEnv(string) string { return "" }

// listenRE matches the line serve prints once it listens.
var listenRE = regexp.MustCompile(`is listening on (http://\S+) \(([^)]*)\)`)

// runIn runs the program in-process with the given arguments (without the
// program name) and returns what it printed.
func runIn(t *testing.T, getenv func(string) string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = run(ctx, append([]string{"okpay"}, args...), getenv, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), err
}

// inProc is a serve command running in-process.
type inProc struct {
	url     string
	storage string
	cancel  context.CancelFunc
	done    chan error
	stdout  *syncBuffer
	stderr  *syncBuffer
	stopped bool
}

// startInProc runs "okpay serve ARGS..." in a goroutine and waits until it
// prints the address it listens on.
func startInProc(t *testing.T, getenv func(string) string, args ...string) *inProc {
	t.Helper()
	return startInProcWithin(t, 30*time.Second, getenv, args...)
}

// startInProcWithin is startInProc that waits up to wait for the address
// (a server that fills its database first takes longer).
func startInProcWithin(t *testing.T, wait time.Duration, getenv func(string) string, args ...string) *inProc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &inProc{cancel: cancel, done: make(chan error, 1), stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	go func() {
		s.done <- run(ctx, append([]string{"okpay", "serve"}, args...), getenv, strings.NewReader(""), s.stdout, s.stderr)
	}()
	deadline := time.After(wait)
	for {
		if m := listenRE.FindStringSubmatch(s.stdout.String()); m != nil {
			s.url, s.storage = m[1], m[2]
			break
		}
		select {
		case err := <-s.done:
			cancel()
			t.Fatalf("serve %q ended before listening: %v\nstdout:\n%s\nstderr:\n%s", args, err, s.stdout, s.stderr)
		case <-deadline:
			cancel()
			t.Fatalf("serve %q did not print its address within %s\nstdout:\n%s\nstderr:\n%s", args, wait, s.stdout, s.stderr)
		case <-time.After(5 * time.Millisecond):
		}
	}
	t.Cleanup(func() {
		if !s.stopped {
			s.cancel()
			select {
			case <-s.done:
			case <-time.After(15 * time.Second):
				t.Errorf("serve did not stop within 15s of its context ending")
			}
		}
	})
	return s
}

// stop cancels the server's context and checks that run returns nil within
// a few seconds (graceful shutdown).
func (s *inProc) stop(t *testing.T) {
	t.Helper()
	s.stopped = true
	start := time.Now()
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("serve returned %v after its context was cancelled; want nil\nstderr:\n%s", err, s.stderr)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("serve did not return within 5s of its context being cancelled")
	}
	t.Logf("graceful shutdown took %v", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(s.stdout.String(), "OKPay stopped") {
		t.Errorf("stdout lacks \"OKPay stopped\" after shutdown:\n%s", s.stdout)
	}
}

// httpGet fetches url.
func httpGet(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp.StatusCode, resp.Header, body
}

// apiClient calls the JSON API with an API key.
type apiClient struct {
	base string
	key  string
	hc   *http.Client
}

type apiResp struct {
	status int
	header http.Header
	body   []byte
}

func (r *apiResp) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

func (c *apiClient) do(ctx context.Context, method, path, idemKey string, body []byte) (*apiResp, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &apiResp{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// mustDo is do for setup calls that must answer want.
func (c *apiClient) mustDo(t *testing.T, method, path, idemKey string, body []byte, want int) *apiResp {
	t.Helper()
	var r *apiResp
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		r, err = c.do(context.Background(), method, path, idemKey, body)
		if err == nil && r.status < 500 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if r.status != want {
		t.Fatalf("%s %s %s: got %s, want status %d", method, path, body, r, want)
	}
	return r
}

// accountJSON is the part of an account response the tests read.
type accountJSON struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Balance struct {
		PostedDebits   money.Amount `json:"posted_debits"`
		PostedCredits  money.Amount `json:"posted_credits"`
		PendingDebits  money.Amount `json:"pending_debits"`
		PendingCredits money.Amount `json:"pending_credits"`
	} `json:"balance"`
}

// entryJSON is the part of an entry (or problem) response the tests read.
type entryJSON struct {
	ID        string `json:"id"`
	Reference string `json:"reference"`
	Code      string `json:"code"` // problem documents only
	Postings  []struct {
		Debit  string       `json:"debit"`
		Credit string       `json:"credit"`
		Amount money.Amount `json:"amount"`
	} `json:"postings"`
}

func createAccount(t *testing.T, c *apiClient, owner, kind string, noOverdraft bool) string {
	t.Helper()
	flags := `[]`
	if noOverdraft {
		flags = `["no_overdraft"]`
	}
	body := fmt.Sprintf(`{"owner":%q,"currency":"USD","kind":%q,"flags":%s}`, owner, kind, flags)
	r := c.mustDo(t, "POST", "/api/v1/accounts", "", []byte(body), http.StatusCreated)
	var a accountJSON
	if err := json.Unmarshal(r.body, &a); err != nil || a.ID == "" {
		t.Fatalf("create account: bad response %s: %v", r, err)
	}
	return a.ID
}

func transferBody(from, to string, minor int64) []byte {
	return fmt.Appendf(nil, `{"from":%q,"to":%q,"amount":{"amount":%q,"currency":"USD"}}`, from, to, money.New(minor, "USD").String())
}

func getAccount(t *testing.T, c *apiClient, id string) accountJSON {
	t.Helper()
	r := c.mustDo(t, "GET", "/api/v1/accounts/"+id, "", nil, http.StatusOK)
	var a accountJSON
	if err := json.Unmarshal(r.body, &a); err != nil {
		t.Fatalf("GET account %s: %v in %s", id, err, r)
	}
	return a
}

// createAPIKey runs "okpay apikey create" in-process and returns the secret.
func createAPIKey(t *testing.T, dbURL string) string {
	t.Helper()
	out, errOut, err := runIn(t, noEnv, "apikey", "create", "--name", "test", "--database", dbURL)
	if err != nil {
		t.Fatalf("apikey create: %v\n%s", err, errOut)
	}
	secret := strings.TrimSpace(out)
	if secret == "" || strings.Contains(secret, "\n") {
		t.Fatalf("apikey create printed %q on stdout; want the secret alone", out)
	}
	return secret
}

func numericAccountID(t *testing.T, s string) int64 {
	t.Helper()
	id, ok := ids.Parse("acc", s)
	if !ok {
		t.Fatalf("%q is not an account id", s)
	}
	return id
}

// ---------------------------------------------------------------------------
// Command-line surface.

func TestHelpListsCommands(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		out, _, err := runIn(t, noEnv, args...)
		if err != nil {
			t.Fatalf("okpay %v: %v", args, err)
		}
		for _, c := range []string{"serve", "migrate", "bench", "ledger", "apikey", "version"} {
			if !regexp.MustCompile(`(?m)^\s+` + c + `\s`).MatchString(out) {
				t.Errorf("okpay %v does not list %q:\n%s", args, c, out)
			}
		}
	}
}

func TestNoCommand(t *testing.T) {
	t.Parallel()
	_, errOut, err := runIn(t, noEnv)
	if err == nil || exitCode(err) != 2 {
		t.Fatalf("okpay with no command: err %v (exit %d), want exit 2", err, exitCode(err))
	}
	if !strings.Contains(errOut, "Usage: okpay") {
		t.Errorf("no usage on stderr:\n%s", errOut)
	}
}

func TestUnknownCommandFails(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"frobnicate"}, {"ledger"}, {"ledger", "nope"}, {"apikey"}, {"apikey", "delete"}} {
		out, errOut, err := runIn(t, noEnv, args...)
		if err == nil {
			t.Errorf("okpay %v succeeded; want a failure", args)
			continue
		}
		if code := exitCode(err); code == 0 {
			t.Errorf("okpay %v: exit code 0 for %v", args, err)
		}
		if !strings.Contains(errOut, "Usage") {
			t.Errorf("okpay %v: no usage on stderr; stdout %q stderr %q", args, out, errOut)
		}
	}
}

func TestSubcommandHelp(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args  []string
		usage string
		flags []string // flags the usage must list
	}{
		{[]string{"serve", "-h"}, "Usage: okpay serve", []string{"--addr", "--database", "--log-level", "OKPAY_ADDR", "OKPAY_DATABASE_URL", "OKPAY_LOG_LEVEL"}},
		{[]string{"serve", "--help"}, "Usage: okpay serve", []string{"--addr"}},
		{[]string{"migrate", "-h"}, "Usage: okpay migrate", []string{"--database"}},
		{[]string{"ledger", "verify", "-h"}, "Usage: okpay ledger verify", []string{"--database"}},
		{[]string{"apikey", "create", "-h"}, "Usage: okpay apikey create", []string{"--name", "--database"}},
		{[]string{"version", "-h"}, "Usage: okpay version", nil},
		{[]string{"bench", "ledger", "-h"}, "Usage: okpay bench ledger", []string{"--engines", "--duration"}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			out, errOut, err := runIn(t, noEnv, c.args...)
			if err != nil {
				t.Fatalf("okpay %v: %v (exit %d)\nstderr:\n%s", c.args, err, exitCode(err), errOut)
			}
			usage := out + errOut
			if !strings.Contains(usage, c.usage) {
				t.Errorf("okpay %v: usage lacks %q:\n%s", c.args, c.usage, usage)
			}
			for _, f := range c.flags {
				if !strings.Contains(usage, f) {
					t.Errorf("okpay %v: usage lacks %q:\n%s", c.args, f, usage)
				}
			}
		})
	}
}

// The group commands (ledger, apikey, bench) take a subcommand first:
// "-h" in its place prints their usage and succeeds; no subcommand or an
// unknown one is a usage error (exit 2).
func TestGroupCommandHelp(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ cmd, usage string }{
		{"ledger", "Usage: okpay ledger verify"},
		{"apikey", "Usage: okpay apikey create"},
		{"bench", "Usage: okpay bench ledger"},
	} {
		out, _, err := runIn(t, noEnv, c.cmd, "-h")
		if err != nil || !strings.Contains(out, c.usage) {
			t.Errorf("okpay %s -h: err %v, stdout lacks %q:\n%s", c.cmd, err, c.usage, out)
		}
		for _, args := range [][]string{{c.cmd}, {c.cmd, "nope"}} {
			_, errOut, err := runIn(t, noEnv, args...)
			if code := exitCode(err); err == nil || code != 2 || !strings.Contains(errOut, c.usage) {
				t.Errorf("okpay %v: exit %d (%v), stderr %q", args, code, err, errOut)
			}
		}
	}
}

func TestStrayArgumentsAndBadFlagsAreUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version", "junk"}, {"migrate", "junk"}, {"ledger", "verify", "junk"}, {"apikey", "create", "junk"}, {"serve", "--no-such-flag"}} {
		_, _, err := runIn(t, noEnv, args...)
		if code := exitCode(err); err == nil || code != 2 {
			t.Errorf("okpay %v: exit %d (%v), want 2", args, code, err)
		}
	}
}

func TestVerifyRefusesMissingDatabase(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "typo", "okpay.db")
	_, _, err := runIn(t, noEnv, "ledger", "verify", "--database", "sqlite:"+p)
	if err == nil {
		t.Fatal("verify of a missing database succeeded")
	}
	if _, statErr := os.Stat(p); statErr == nil {
		t.Fatal("verify created the missing database")
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	out, _, err := runIn(t, noEnv, "version")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "okpay ") || len(strings.TrimSpace(out)) <= len("okpay") {
		t.Errorf("version printed %q", out)
	}
	if _, _, err := runIn(t, noEnv, "version", "--bogus"); err == nil || exitCode(err) == 0 {
		t.Errorf("version --bogus: err %v", err)
	}
}

func TestBadFlagFails(t *testing.T) {
	t.Parallel()
	_, errOut, err := runIn(t, noEnv, "serve", "--no-such-flag")
	if err == nil || exitCode(err) == 0 {
		t.Fatalf("serve --no-such-flag: err %v", err)
	}
	if !strings.Contains(errOut, "no-such-flag") {
		t.Errorf("stderr does not name the flag:\n%s", errOut)
	}
	if _, _, err := runIn(t, noEnv, "serve", "--addr", "127.0.0.1:0", "stray"); err == nil {
		t.Errorf("serve with a positional argument succeeded")
	}
	if _, _, err := runIn(t, noEnv, "serve", "--addr", "127.0.0.1:0", "--log-level", "loud", "--database", "sqlite:"+filepath.Join(t.TempDir(), "x.db")); err == nil || !strings.Contains(err.Error(), "log level") {
		t.Errorf("serve --log-level loud: err %v, want a log level error", err)
	}
}

// ---------------------------------------------------------------------------
// serve

func TestServe(t *testing.T) {
	t.Parallel()
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			dbURL := sqldbtest.URL(t, d)
			s := startInProc(t, noEnv, "--addr", "127.0.0.1:0", "--database", dbURL, "--log-level", "warn", "--dev", "on", "--secret-key", testSecretKey)
			t.Logf("listening on %s (%s)", s.url, s.storage)
			checkEndpoints(t, s.url)
			s.stop(t)
		})
	}
}

// checkEndpoints polls /healthz until 200 and checks the other
// unauthenticated endpoints.
func checkEndpoints(t *testing.T, base string) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz not 200 within 10s (last: %v %v)", resp, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st, _, body := httpGet(t, base+"/readyz"); st != http.StatusOK {
		t.Errorf("/readyz: %d %s", st, body)
	}
	st, _, body := httpGet(t, base+"/metrics")
	if st != http.StatusOK {
		t.Errorf("/metrics: %d", st)
	}
	for _, m := range []string{"okpay_http_requests_total", "okpay_ledger_commit_batch_size"} {
		if !bytes.Contains(body, []byte(m)) {
			t.Errorf("/metrics lacks %s:\n%.2000s", m, body)
		}
	}
	st, hdr, body := httpGet(t, base+"/api/openapi.json")
	if st != http.StatusOK || !json.Valid(body) || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Errorf("/api/openapi.json: %d %q valid JSON %v", st, hdr.Get("Content-Type"), json.Valid(body))
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil || doc["paths"] == nil {
		t.Errorf("/api/openapi.json is not an OpenAPI document: %v", err)
	}
	st, hdr, body = httpGet(t, base+"/")
	if st != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !bytes.Contains(bytes.ToLower(body), []byte("<html")) {
		t.Errorf("/: %d %q %.300s", st, hdr.Get("Content-Type"), body)
	}
	// An API route without a key is a JSON 401, never HTML.
	st, hdr, _ = httpGet(t, base+"/api/v1/accounts/acc_0000000000000")
	if st != http.StatusUnauthorized || !strings.Contains(hdr.Get("Content-Type"), "json") {
		t.Errorf("unauthenticated API call: %d %q", st, hdr.Get("Content-Type"))
	}
}

func TestServeZeroConfig(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	s := startInProc(t, noEnv, "--addr", "127.0.0.1:0")
	if !strings.Contains(s.storage, "okpay-data") {
		t.Errorf("storage %q, want the default ./okpay-data file", s.storage)
	}
	checkEndpoints(t, s.url)
	s.stop(t)

	path := filepath.Join(dir, "okpay-data", "okpay.db")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("zero-config serve did not create %s: %v", path, err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode %q, want wal", mode)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM currencies`).Scan(&n); err != nil || n == 0 {
		t.Errorf("the default database was not migrated: %d currencies, %v", n, err)
	}
}

func TestServeEnvironment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	envDB := filepath.Join(dir, "env.db")
	flagDB := filepath.Join(dir, "flag.db")

	t.Run("env honoured", func(t *testing.T) {
		s := startInProc(t, envOf(map[string]string{
			"OKPAY_ADDR":         "127.0.0.1:0",
			"OKPAY_DATABASE_URL": "sqlite:" + envDB,
			"OKPAY_LOG_LEVEL":    "warn",
		}))
		if !strings.Contains(s.storage, envDB) {
			t.Errorf("storage %q, want %s from OKPAY_DATABASE_URL", s.storage, envDB)
		}
		if !strings.HasPrefix(s.url, "http://localhost:") || strings.HasSuffix(s.url, ":8080") {
			t.Errorf("url %s: OKPAY_ADDR=127.0.0.1:0 not honoured", s.url)
		}
		if strings.Contains(s.stderr.String(), `"level":"INFO"`) {
			t.Errorf("OKPAY_LOG_LEVEL=warn not honoured: info lines on stderr:\n%s", s.stderr)
		}
		checkEndpoints(t, s.url)
		s.stop(t)
		if _, err := os.Stat(envDB); err != nil {
			t.Errorf("OKPAY_DATABASE_URL file not created: %v", err)
		}
	})

	t.Run("flags win", func(t *testing.T) {
		s := startInProc(t, envOf(map[string]string{
			// Unusable values: the flags must override them.
			"OKPAY_ADDR":         "256.256.256.256:1",
			"OKPAY_DATABASE_URL": "sqlite:" + filepath.Join(dir, "wrong.db"),
			"OKPAY_LOG_LEVEL":    "shouting",
		}), "--addr", "127.0.0.1:0", "--database", "sqlite:"+flagDB, "--log-level", "warn")
		if !strings.Contains(s.storage, flagDB) {
			t.Errorf("storage %q, want %s from --database", s.storage, flagDB)
		}
		checkEndpoints(t, s.url)
		s.stop(t)
		if _, err := os.Stat(filepath.Join(dir, "wrong.db")); err == nil {
			t.Errorf("OKPAY_DATABASE_URL was used although --database was given")
		}
	})

	t.Run("bad env value", func(t *testing.T) {
		_, _, err := runIn(t, envOf(map[string]string{"OKPAY_DB_MAX_CONNS": "many", "OKPAY_ADDR": "127.0.0.1:0"}), "serve", "--database", "sqlite:"+filepath.Join(dir, "bad.db"))
		if err == nil || !strings.Contains(err.Error(), "OKPAY_DB_MAX_CONNS") {
			t.Errorf("OKPAY_DB_MAX_CONNS=many: err %v, want one naming the variable", err)
		}
		_, _, err = runIn(t, envOf(map[string]string{"OKPAY_LOG_LEVEL": "shouting", "OKPAY_ADDR": "127.0.0.1:0"}), "serve", "--database", "sqlite:"+filepath.Join(dir, "bad.db"))
		if err == nil || !strings.Contains(err.Error(), "log level") {
			t.Errorf("OKPAY_LOG_LEVEL=shouting: err %v, want a log level error", err)
		}
	})
}

// gcPercent reads the garbage collector's target.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// TestServeGCPercent: serve sets the collector's target from --gc-percent
// or OKPAY_GC_PERCENT (default 400), leaves it to GOGC when that is set,
// and puts it back when it stops.
//
// Not parallel: the collector's target is the process's, and every serve
// started in this process sets it while it runs.
func TestServeGCPercent(t *testing.T) {
	before := gcPercent()
	for _, c := range []struct {
		name string
		env  map[string]string
		args []string
		want int
	}{
		{"default", nil, nil, defaultGCPercent},
		{"flag", nil, []string{"--gc-percent", "250"}, 250},
		{"env", map[string]string{"OKPAY_GC_PERCENT": "300"}, nil, 300},
		{"GOGC wins", map[string]string{"GOGC": "150", "OKPAY_GC_PERCENT": "300"}, nil, before},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"--addr", "127.0.0.1:0", "--database", "sqlite:" + filepath.Join(t.TempDir(), "gc.db"), "--log-level", "warn"}, c.args...)
			s := startInProc(t, envOf(c.env), args...)
			got := gcPercent()
			s.stop(t)
			if got != c.want {
				t.Errorf("GC percent while serving = %d, want %d", got, c.want)
			}
			if after := gcPercent(); after != before {
				t.Errorf("GC percent after serve = %d, want %d back", after, before)
			}
		})
	}
	_, _, err := runIn(t, envOf(map[string]string{"OKPAY_GC_PERCENT": "lots", "OKPAY_ADDR": "127.0.0.1:0"}), "serve", "--database", "sqlite:"+filepath.Join(t.TempDir(), "bad.db"))
	if err == nil || !strings.Contains(err.Error(), "OKPAY_GC_PERCENT") {
		t.Errorf("OKPAY_GC_PERCENT=lots: err %v, want one naming the variable", err)
	}
}

// TestServeProcs: serve runs with one Go processor more than the runtime's
// default, or --procs / OKPAY_PROCS, leaves it to GOMAXPROCS when that is
// set, refuses a negative number, and puts the count back when it stops.
//
// Not parallel: GOMAXPROCS is the process's, and every serve started in
// this process sets it while it runs.
func TestServeProcs(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	runtime.SetDefaultGOMAXPROCS()
	def := runtime.GOMAXPROCS(before)
	for _, c := range []struct {
		name string
		env  map[string]string
		args []string
		want int
	}{
		{"default", nil, nil, def + 1},
		{"flag", nil, []string{"--procs", "5"}, 5},
		{"env", map[string]string{"OKPAY_PROCS": "7"}, nil, 7},
		{"GOMAXPROCS wins", map[string]string{"GOMAXPROCS": "1", "OKPAY_PROCS": "7"}, nil, before},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"--addr", "127.0.0.1:0", "--database", "sqlite:" + filepath.Join(t.TempDir(), "procs.db"), "--log-level", "warn"}, c.args...)
			s := startInProc(t, envOf(c.env), args...)
			got := runtime.GOMAXPROCS(0)
			s.stop(t)
			if got != c.want {
				t.Errorf("GOMAXPROCS while serving = %d, want %d", got, c.want)
			}
			if after := runtime.GOMAXPROCS(0); after != before {
				t.Errorf("GOMAXPROCS after serve = %d, want %d back", after, before)
			}
		})
	}
	_, _, err := runIn(t, envOf(map[string]string{"OKPAY_PROCS": "-2", "OKPAY_ADDR": "127.0.0.1:0"}), "serve", "--database", "sqlite:"+filepath.Join(t.TempDir(), "bad.db"))
	if err == nil || !strings.Contains(err.Error(), "--procs") {
		t.Errorf("OKPAY_PROCS=-2: err %v, want one naming --procs", err)
	}
	if after := runtime.GOMAXPROCS(0); after != before {
		t.Errorf("GOMAXPROCS after a refused serve = %d, want %d", after, before)
	}
}

// ---------------------------------------------------------------------------
// migrate

func TestMigrateTwice(t *testing.T) {
	t.Parallel()
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			dbURL := sqldbtest.URL(t, d)
			out, errOut, err := runIn(t, noEnv, "migrate", "--database", dbURL)
			if err != nil {
				t.Fatalf("first migrate: %v\n%s", err, errOut)
			}
			if !regexp.MustCompile(`applied [1-9]\d* migration\(s\)`).MatchString(out) {
				t.Errorf("first migrate printed %q, want at least one migration applied", out)
			}
			out, errOut, err = runIn(t, noEnv, "migrate", "--database", dbURL)
			if err != nil {
				t.Fatalf("second migrate: %v\n%s", err, errOut)
			}
			if !strings.Contains(out, "applied 0 migration(s)") {
				t.Errorf("second migrate printed %q, want \"applied 0 migration(s)\"", out)
			}
			// OKPAY_DATABASE_URL works for migrate too.
			out, _, err = runIn(t, envOf(map[string]string{"OKPAY_DATABASE_URL": dbURL}), "migrate")
			if err != nil || !strings.Contains(out, "applied 0 migration(s)") {
				t.Errorf("migrate with OKPAY_DATABASE_URL: %v %q", err, out)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// ledger verify

func TestLedgerVerify(t *testing.T) {
	t.Parallel()
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			dbURL := sqldbtest.URL(t, d)
			secret := createAPIKey(t, dbURL)
			s := startInProc(t, noEnv, "--addr", "127.0.0.1:0", "--database", dbURL, "--log-level", "warn", "--dev", "on", "--secret-key", testSecretKey)
			c := &apiClient{base: s.url, key: secret, hc: &http.Client{Timeout: 10 * time.Second}}
			ext := createAccount(t, c, "bank", "external", false)
			w1 := createAccount(t, c, "alice", "user_wallet", true)
			w2 := createAccount(t, c, "bob", "user_wallet", true)
			c.mustDo(t, "POST", "/api/v1/transfers", "fund-1", transferBody(ext, w1, 10000), http.StatusCreated)
			c.mustDo(t, "POST", "/api/v1/transfers", "fund-2", transferBody(ext, w2, 5000), http.StatusCreated)
			c.mustDo(t, "POST", "/api/v1/transfers", "pay-1", transferBody(w1, w2, 2599), http.StatusCreated)
			c.mustDo(t, "POST", "/api/v1/transfers", "pay-2", transferBody(w2, w1, 1), http.StatusCreated)
			r := c.mustDo(t, "POST", "/api/v1/transfers", "pay-3", transferBody(w1, w2, 1_000_000), http.StatusUnprocessableEntity)
			if !bytes.Contains(r.body, []byte("insufficient_funds")) {
				t.Errorf("overdraft: %s", r)
			}
			s.stop(t)

			out, errOut, err := runIn(t, noEnv, "ledger", "verify", "--database", dbURL)
			if err != nil {
				t.Fatalf("ledger verify on a sound ledger: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
			}
			// The wallet opens its system accounts on start: the report
			// counts them beside the test's three.
			m := regexp.MustCompile(`(\d+) accounts, 4 entries, 4 postings`).FindStringSubmatch(out)
			if !strings.Contains(out, "OK") || m == nil {
				t.Fatalf("ledger verify printed %q", out)
			}
			if n, _ := strconv.Atoi(m[1]); n != countRows(t, d, dbURL, "accounts") || n < 3 {
				t.Errorf("ledger verify counted %s accounts, the table holds %d", m[1], countRows(t, d, dbURL, "accounts"))
			}

			tamperID := numericAccountID(t, w2)
			tamper(t, d, dbURL, `UPDATE balances SET posted_credits = posted_credits + 1 WHERE account_id = `+strconv.FormatInt(tamperID, 10))

			out, errOut, err = runIn(t, noEnv, "ledger", "verify", "--database", dbURL)
			if err == nil {
				t.Fatalf("ledger verify passed a tampered ledger:\n%s", out)
			}
			if code := exitCode(err); code != 1 {
				t.Errorf("ledger verify on a tampered ledger: exit %d (%v), want 1", code, err)
			}
			if !strings.Contains(out, "FAILED") || !strings.Contains(out, "account "+w2) {
				t.Errorf("the report does not name account %d (%s):\n%s%s", tamperID, w2, out, errOut)
			}
			t.Logf("report:\n%s", out)
		})
	}
}

// tamper runs one statement directly on the database, behind the ledger's
// back.
// countRows counts the rows of table.
func countRows(t *testing.T, d sqldb.Dialect, dbURL, table string) int {
	t.Helper()
	db := openTestDB(t, d, dbURL)
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func tamper(t *testing.T, d sqldb.Dialect, dbURL, stmt string) {
	t.Helper()
	db := openTestDB(t, d, dbURL)
	defer db.Close()
	res, err := db.Exec(stmt)
	if err != nil {
		t.Fatalf("tamper: %v", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("tamper changed %d rows, want 1", n)
	}
}

// openTestDB opens the test database without the store.
func openTestDB(t *testing.T, d sqldb.Dialect, dbURL string) *sql.DB {
	t.Helper()
	var db *sql.DB
	var err error
	switch d {
	case sqldb.SQLite:
		db, err = sql.Open("sqlite", strings.TrimPrefix(dbURL, "sqlite:"))
	default:
		db, err = sql.Open("pgx", dbURL)
	}
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestCrossSiteAPIWriteIsAProblemDocument(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"okpay", "serve", "--addr", "127.0.0.1:0", "--database", "sqlite:" + filepath.Join(dir, "x.db"), "--log-level", "warn"}, noEnv, strings.NewReader(""), &out, &errb)
	}()
	var base string
	// 30 s, as startInProc allows: under -race beside other packages'
	// tests, migrating a fresh database and seeding it took over 4 s.
	for deadline := time.Now().Add(30 * time.Second); base == "" && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		if m := regexp.MustCompile(`http://[0-9a-z.:]+`).FindString(out.String()); m != "" {
			base = m
		}
	}
	if base == "" {
		t.Fatalf("server did not start: %s", errb.String())
	}
	req, _ := http.NewRequest("POST", base+"/api/v1/transfers", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(body), `"code":"forbidden"`) {
		t.Fatalf("cross-site API POST: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	req, _ = http.NewRequest("POST", base+"/lang", strings.NewReader("lang=en"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("cross-site page POST: %d", resp.StatusCode)
	}
	cancel()
	<-done
}

// testSecretKey is the master key of servers on PostgreSQL in tests (with
// SQLite, serve keeps one beside the database).
const testSecretKey = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
