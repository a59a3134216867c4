package desk

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/okpay/okpay"
)

// Customer satisfaction (CSAT). Once a conversation is resolved its
// customer (or visitor) is asked to rate it: 1 to 5 with an optional
// comment. A rating belongs to one resolution (the conversation's
// resolved_at when it was given): a conversation reopened and resolved
// again is asked again; the same resolution is rated once. Rating it
// again is refused (ECSATAlreadyRated) unless it is the very same rating
// and comment, which answers the stored rating: a retry of a rating whose
// answer was lost is safe, a change of mind is not taken (the first
// answer, given closest to the experience, is the one reported).

// Error codes of CSAT.
const (
	// ECSATNotDue: the conversation is not resolved, so there is nothing
	// to rate yet.
	ECSATNotDue = "csat_not_due"
	// ECSATAlreadyRated: this resolution was rated already.
	ECSATAlreadyRated = "csat_already_rated"
)

// MaxCSATCommentRunes caps a rating's comment.
const MaxCSATCommentRunes = 1000

// Rating is a customer's rating of one resolution of a conversation.
type Rating struct {
	ConversationID int64
	// ResolvedAt is the resolution rated.
	ResolvedAt time.Time
	// Score is 1 (very unhappy) to 5 (very happy).
	Score     int
	Comment   string
	Rater     Kind
	CreatedAt time.Time
	// Replayed is true when Rate found the same rating given already.
	Replayed bool
}

// Survey is where a conversation's satisfaction survey stands for its
// customer.
type Survey struct {
	// Due: the conversation is resolved and this resolution is not rated
	// yet (the widget asks).
	Due bool
	// Rating is the rating of the current resolution, if given.
	Rating *Rating
}

// raterOf checks that v may rate: the conversation's customer or visitor.
func raterOf(v Viewer) error {
	if err := v.valid(); err != nil {
		return err
	}
	if v.Kind != KindCustomer && v.Kind != KindVisitor {
		return okpay.Errorf(okpay.EForbidden, "Only the customer rates a conversation.")
	}
	return nil
}

// resolution returns the resolution of c that may be rated (zero when c
// is not resolved: open, pending or snoozed; a closed conversation that
// was resolved before being closed may still be rated).
func resolution(c *convRow) time.Time {
	if c.Status != StatusResolved && c.Status != StatusClosed {
		return time.Time{}
	}
	return c.ResolvedAt
}

func (s *Service) ratingOf(ctx context.Context, q querier, convID int64, resolvedAt time.Time) (*Rating, error) {
	r := Rating{ConversationID: convID, ResolvedAt: resolvedAt}
	var created int64
	var rater string
	err := q.QueryRowContext(ctx, `SELECT rating, comment, rater_kind, created_at FROM desk_csat WHERE conversation_id = $1 AND resolved_at = $2`,
		convID, micros(resolvedAt)).Scan(&r.Score, &r.Comment, &rater, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, okpay.Internal(err, "load rating")
	}
	r.Rater, r.CreatedAt = Kind(rater), fromMicros(created)
	return &r, nil
}

// CSATSurvey tells the customer (or visitor) v whether conversation id
// waits for their rating. Another's conversation is ENotFound.
func (s *Service) CSATSurvey(ctx context.Context, v Viewer, id int64) (Survey, error) {
	if err := raterOf(v); err != nil {
		return Survey{}, err
	}
	c, err := s.loadConv(ctx, s.DB.Read, v, id, false)
	if err != nil {
		return Survey{}, err
	}
	res := resolution(c)
	if res.IsZero() {
		return Survey{}, nil
	}
	r, err := s.ratingOf(ctx, s.DB.Read, id, res)
	if err != nil {
		return Survey{}, err
	}
	return Survey{Due: r == nil, Rating: r}, nil
}

// Rate records v's rating of the current resolution of conversation id:
// score 1 to 5 and an optional comment (one paragraph of at most
// MaxCSATCommentRunes characters). Only the conversation's customer or
// visitor rates (another's conversation is ENotFound; staff get
// EForbidden). A conversation not resolved is ECSATNotDue; a resolution
// rated already is ECSATAlreadyRated, except for the same score and
// comment again (a retry), which returns the stored rating with Replayed.
func (s *Service) Rate(ctx context.Context, v Viewer, id int64, score int, comment string) (*Rating, error) {
	return s.rate(ctx, v, id, time.Time{}, score, comment)
}

// RateResolution is Rate for one resolution, the one a rating request by
// email asked about (resolvedAt): once the conversation was reopened, or
// resolved again, that request no longer rates anything (ECSATNotDue).
func (s *Service) RateResolution(ctx context.Context, v Viewer, id int64, resolvedAt time.Time, score int, comment string) (*Rating, error) {
	if resolvedAt.IsZero() {
		return nil, okpay.Errorf(ECSATNotDue, "No resolution was named.")
	}
	return s.rate(ctx, v, id, resolvedAt, score, comment)
}

// rate rates the current resolution of conversation id, which must be
// want unless want is zero.
func (s *Service) rate(ctx context.Context, v Viewer, id int64, want time.Time, score int, comment string) (*Rating, error) {
	if err := raterOf(v); err != nil {
		return nil, err
	}
	fields := map[string]string{}
	if score < 1 || score > 5 {
		fields["rating"] = "Choose a rating from 1 to 5."
	}
	comment = CleanText(comment)
	if runeLen(comment) > MaxCSATCommentRunes {
		fields["comment"] = "Keep the comment under " + itoa(MaxCSATCommentRunes) + " characters."
	}
	if len(fields) > 0 {
		return nil, okpay.Invalid(fields)
	}
	now := s.Clock.Now()
	var out *Rating
	err := s.inTx(ctx, "rate conversation", func(tx *sql.Tx) error {
		c, err := s.loadConv(ctx, tx, v, id, true)
		if err != nil {
			return err
		}
		res := resolution(c)
		if !want.IsZero() && micros(res) != micros(want) {
			return okpay.Errorf(ECSATNotDue, "This rating request is for an earlier resolution: the conversation was reopened since.")
		}
		if res.IsZero() {
			return okpay.Errorf(ECSATNotDue, "This conversation is not resolved yet.")
		}
		prev, err := s.ratingOf(ctx, tx, id, res)
		if err != nil {
			return err
		}
		if prev != nil {
			if prev.Score == score && prev.Comment == comment {
				prev.Replayed = true
				out = prev
				return nil
			}
			return okpay.Errorf(ECSATAlreadyRated, "You have already rated this conversation. Thank you!")
		}
		kind, rid := readerOf(v)
		if _, err := tx.ExecContext(ctx, `INSERT INTO desk_csat (conversation_id, resolved_at, rating, comment, rater_kind, rater_id, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, micros(res), score, comment, string(kind), rid, micros(now)); err != nil {
			return err
		}
		if err := s.record(ctx, tx, id, v, "csat", itoa(score)+"/5", now); err != nil {
			return err
		}
		out = &Rating{ConversationID: id, ResolvedAt: res, Score: score, Comment: comment, Rater: kind, CreatedAt: now}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Ratings returns the ratings of conversation id, oldest first (staff
// only: the console shows them beside the conversation).
func (s *Service) Ratings(ctx context.Context, v Viewer, id int64) ([]Rating, error) {
	if err := staffOnly(v); err != nil {
		return nil, err
	}
	if _, err := s.loadConv(ctx, s.DB.Read, v, id, false); err != nil {
		return nil, err
	}
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT resolved_at, rating, comment, rater_kind, created_at FROM desk_csat
		WHERE conversation_id = $1 ORDER BY resolved_at`, id)
	if err != nil {
		return nil, okpay.Internal(err, "list ratings")
	}
	defer rows.Close()
	var out []Rating
	for rows.Next() {
		r := Rating{ConversationID: id}
		var res, created int64
		var rater string
		if err := rows.Scan(&res, &r.Score, &r.Comment, &rater, &created); err != nil {
			return nil, okpay.Internal(err, "list ratings")
		}
		r.ResolvedAt, r.Rater, r.CreatedAt = fromMicros(res), Kind(rater), fromMicros(created)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "list ratings")
	}
	return out, nil
}
