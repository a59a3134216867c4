package ledger

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	batchSize prometheus.Histogram
	commitDur prometheus.Histogram
	retries   prometheus.Counter
	expired   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "okpay_ledger_commit_batch_size",
			Help:    "Requests committed together in one ledger transaction.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
		}),
		commitDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "okpay_ledger_commit_seconds",
			Help:    "Time to apply and commit one ledger batch.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "okpay_ledger_batch_retries_total",
			Help: "Ledger batches retried after a transient database conflict.",
		}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "okpay_ledger_holds_expired_total",
			Help: "Pending entries voided by the timeout sweeper.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.batchSize, m.commitDur, m.retries, m.expired)
	}
	return m
}

func (m *metrics) observeBatch(n int, d time.Duration) {
	m.batchSize.Observe(float64(n))
	m.commitDur.Observe(d.Seconds())
}
