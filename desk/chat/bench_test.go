package chat_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/chat"
	"github.com/okpay/okpay/sqldb"
)

func benchFanout(b *testing.B, db *sqldb.DB, n int) {
	e := newEnv(b, db, 0, chat.Config{})
	convs := make([]int64, n)
	clients := make([]*client, n)
	for i := range convs {
		c, err := e.svc.StartConversation(e.ctx, desk.Customer(int64(10000+i)), desk.StartInput{Category: desk.CategoryAccount})
		if err != nil {
			b.Fatal(err)
		}
		convs[i] = c.ID
		clients[i] = e.dial("X-Customer", fmt.Sprint(10000+i))
		clients[i].subscribe(c.ID, 0)
		clients[i].nextOf(desk.EventSubscribed, 10*time.Second)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % n
		if _, err := e.svc.SendMessage(e.ctx, desk.Agent(agentA), convs[k], desk.MessageInput{Body: "hello"}); err != nil {
			b.Fatal(err)
		}
		clients[k].nextOf(desk.EventMessage, 10*time.Second)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
