package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// HTTPSMSConfig configures an HTTPSMS sender.
type HTTPSMSConfig struct {
	// URL receives the POST (https in production).
	URL string
	// Token is sent as "Authorization: Bearer <Token>".
	Token string
	// Timeout bounds one request (default 10 s).
	Timeout time.Duration
	// Client is the HTTP client (default: a new one with Timeout).
	Client *http.Client
}

// HTTPSMS sends SMS through a JSON HTTP gateway: it POSTs
// {"id": dedupe key, "to": E.164 number, "text": body} with a bearer token
// and an Idempotency-Key header holding the dedupe key. A 2xx answer means
// sent; a 4xx other than 408 and 429 is a permanent failure; anything
// else (5xx, 408, 429, 3xx, a network error, a timeout) is retried.
type HTTPSMS struct {
	url     string
	token   string
	timeout time.Duration
	client  *http.Client
}

// NewHTTPSMS checks cfg and returns the sender.
func NewHTTPSMS(cfg HTTPSMSConfig) (*HTTPSMS, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("notify: the SMS gateway URL must be an http(s) URL")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{
			Timeout: cfg.Timeout,
			// A redirect is a configuration error, not a delivery: a
			// followed 301 would turn the POST into a GET and its 200
			// into a false "sent".
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &HTTPSMS{url: cfg.URL, token: cfg.Token, timeout: cfg.Timeout, client: cfg.Client}, nil
}

type smsPayload struct {
	ID   string `json:"id"`
	To   string `json:"to"`
	Text string `json:"text"`
}

// validE164 reports whether s looks like an E.164 number: '+', then 7 to
// 15 digits, the first not 0.
func validE164(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Send posts m to the gateway. Errors never quote the gateway's answer
// (it may echo the text).
func (s *HTTPSMS) Send(ctx context.Context, m Message) error {
	if !validE164(m.To) {
		return Permanent(errors.New("sms: the destination is not an E.164 number"))
	}
	body, err := json.Marshal(smsPayload{ID: m.DedupeKey, To: m.To, Text: m.Body})
	if err != nil {
		return Permanent(fmt.Errorf("sms: encode: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return Permanent(fmt.Errorf("sms: build the request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	req.Header.Set("Idempotency-Key", m.DedupeKey)
	resp, err := s.client.Do(req)
	if err != nil {
		// Not the url.Error itself: its URL may carry a credential.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("sms: gateway unreachable: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests:
		err := fmt.Errorf("sms: gateway answered %d", code)
		if secs, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && secs > 0 {
			return &RetryAfterError{Err: err, After: min(time.Duration(secs)*time.Second, time.Hour)}
		}
		return err
	case code >= 400 && code < 500:
		return Permanent(fmt.Errorf("sms: gateway refused the message with %d", code))
	default:
		return fmt.Errorf("sms: gateway answered %d", code)
	}
}
