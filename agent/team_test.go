package agent_test

import (
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

func TestParseSchedule(t *testing.T) {
	for in, want := range map[string]string{
		"":                    "",
		"mon-fri 09:00-18:00": "mon-fri 09:00-18:00",
		"MON 09:00-12:00 13:00-18:00; tue 09:00-12:00 13:00-18:00": "mon-tue 09:00-12:00 13:00-18:00",
		"sat-mon 10:00-14:00":              "mon 10:00-14:00; sat-sun 10:00-14:00",
		"fri 22:00-24:00; sat 00:00-06:00": "fri 22:00-24:00; sat 00:00-06:00",
		"mon 13:00-14:00; mon 08:00-09:00": "mon 08:00-09:00 13:00-14:00",
		" ; wed 00:00-24:00 ;":             "wed 00:00-24:00",
	} {
		sc, err := agent.ParseSchedule(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if got := sc.String(); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
	for _, in := range []string{"mon", "funday 09:00-10:00", "mon 9:00-10:00", "mon 10:00-09:00", "mon 10:00-10:00",
		"mon 09:00-18:00 12:00-13:00", "mon 24:01-24:00", "mon 09:60-10:00", "mon-xyz 09:00-10:00", "mon 09:00"} {
		if _, err := agent.ParseSchedule(in); okpay.ErrorCode(err) != okpay.EInvalid {
			t.Errorf("%q accepted (%v)", in, err)
		}
	}
}

func TestTeamOpenAt(t *testing.T) {
	sc, err := agent.ParseSchedule("mon-fri 09:00-18:00")
	if err != nil {
		t.Fatal(err)
	}
	team := &agent.Team{Name: "payments", TimeZone: "Asia/Shanghai", Schedule: sc}
	// 2026-11-25 is a Wednesday; 01:00 UTC is 09:00 in Shanghai.
	for at, want := range map[time.Time]bool{
		time.Date(2026, 11, 25, 0, 59, 0, 0, time.UTC): false,
		time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC):  true,
		time.Date(2026, 11, 25, 9, 59, 0, 0, time.UTC): true,
		time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC): false,
		time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC):  false, // Saturday
	} {
		if got := team.OpenAt(at); got != want {
			t.Errorf("%v: open %v", at, got)
		}
	}
	team.AlwaysOpen = true
	if !team.OpenAt(time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)) {
		t.Error("a 24/7 team is closed")
	}
}

// FuzzParseSchedule: the parser never panics, and what it accepts
// round-trips through its canonical form.
func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"mon-fri 09:00-18:00", "sat-mon 10:00-14:00; wed 00:00-24:00", "mon 08:00-09:00 13:00-14:00", "", ";;",
		"mon 24:00-24:00", "sun-sun 00:00-00:01", "tue 09:00-10:00\x00", "周一 09:00-18:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := agent.ParseSchedule(s)
		if err != nil {
			return
		}
		again, err := agent.ParseSchedule(sc.String())
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", sc.String(), s, err)
		}
		if again.String() != sc.String() {
			t.Fatalf("%q → %q → %q", s, sc.String(), again.String())
		}
		for _, day := range sc.Days {
			for i, iv := range day {
				if iv.Start < 0 || iv.End > 1440 || iv.Start >= iv.End || (i > 0 && day[i-1].End > iv.Start) {
					t.Fatalf("%q: bad interval %v", s, day)
				}
			}
		}
	})
}

// TestTeamsSeededAndManaged: the three starting teams exist; team:manage
// changes one, audited; a plain agent cannot.
func TestTeamsSeededAndManaged(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, agent.Config{})
		teams, err := h.svc.Teams(h.ctx)
		if err != nil || len(teams) != 3 || teams[0].Name != "general" || teams[1].Name != "payments" || teams[2].Name != "security" {
			t.Fatalf("%v %v", teams, err)
		}
		if !teams[0].AlwaysOpen || teams[1].AlwaysOpen || teams[1].Schedule.String() != "mon-fri 09:00-18:00" || !teams[2].Speaks(i18n.ZhCN) {
			t.Fatalf("seeded teams %+v %+v %+v", teams[0], teams[1], teams[2])
		}
		sup := h.newStaff(agent.RoleSupervisor)
		worker := h.newStaff(agent.RoleAgent)
		in := agent.TeamInput{Languages: []i18n.Lang{i18n.ZhCN}, TimeZone: "Asia/Shanghai", Schedule: "mon-sat 08:00-20:00", Reason: "peak season"}
		_, err = h.svc.SaveTeam(h.ctx, worker.actor(), "payments", in, h.meta)
		wantCode(t, err, okpay.EForbidden)
		got, err := h.svc.SaveTeam(h.ctx, sup.actor(), "payments", in, h.meta)
		if err != nil {
			t.Fatal(err)
		}
		if got.Schedule.String() != "mon-sat 08:00-20:00" || got.Speaks(i18n.En) {
			t.Fatalf("%+v", got)
		}
		ev := h.lastEvent("team:payments", "agent_team_updated")
		if ev.Details["before.schedule"] != "mon-fri 09:00-18:00" || ev.Details["after.schedule"] != "mon-sat 08:00-20:00" ||
			ev.Details["before.languages"] != "zh-CN,en" || ev.Actor != sup.agent.Ref() || ev.Reason != "peak season" {
			t.Fatalf("audit %+v", ev)
		}
		_, err = h.svc.SaveTeam(h.ctx, sup.actor(), "vip", agent.TeamInput{Languages: []i18n.Lang{i18n.En}, TimeZone: "Mars/Olympus", Schedule: "mon 09:00-10:00"}, h.meta)
		wantCode(t, err, okpay.EInvalid)
		_, err = h.svc.SaveTeam(h.ctx, sup.actor(), "vip", agent.TeamInput{Languages: []i18n.Lang{i18n.En}, TimeZone: "UTC"}, h.meta)
		wantCode(t, err, okpay.EInvalid) // neither 24/7 nor hours
		vip, err := h.svc.SaveTeam(h.ctx, sup.actor(), "vip", agent.TeamInput{Languages: []i18n.Lang{i18n.En}, AlwaysOpen: true}, h.meta)
		if err != nil || vip.TimeZone != "UTC" {
			t.Fatalf("%+v %v", vip, err)
		}
		h.lastEvent("team:vip", "agent_team_created")
	})
}
