package web

import (
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/desk"
)

// The support desk's reports page of the staff console (/staff/reports,
// permission report:read: supervisors, risk and admins): for the last 7
// or 30 days and one team or all, the volume of conversations per day,
// channel and category, first-response and resolution times (median and
// 90th percentile), SLA compliance per metric and customer satisfaction.
// The figures are package desk's (Service.Report); the charts are inline
// SVG drawn here (svgchart.go), with every number also in text. Nothing
// on the page needs a script.

// pageStaffReports is the template of the reports page.
const pageStaffReports = "staff_reports.html"

// reportPeriods are the periods offered, in days.
var reportPeriods = []int{7, 30}

// reportTeams are the teams offered ("" is every team).
var reportTeams = []string{"", desk.TeamGeneral, desk.TeamSecurity, desk.TeamPayments}

// staffReportMessageIDs are the ids the page uses from Go code.
var staffReportMessageIDs = []string{
	"reports.page_title", "reports.chart.volume", "reports.chart.volume_desc", "reports.chart.csat", "reports.chart.csat_desc",
	"reports.duration.none", "reports.duration.minutes", "reports.duration.hours", "reports.percent.none", "reports.team.all",
}

// initStaffReports parses the reports page (EnableDesk calls it when the
// staff console is on).
func (s *Server) initStaffReports() error {
	t, err := template.New(pageStaffReports).Option("missingkey=error").
		ParseFS(templateFS, "templates/layout.html", "templates/partials.html", "templates/staff_partials.html", "templates/"+pageStaffReports)
	if err != nil {
		return fmt.Errorf("web: parse %s: %w", pageStaffReports, err)
	}
	var missing []string
	for _, id := range staffReportMessageIDs {
		if !s.cat.Has(id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("web: reports page message ids missing from the catalog: %v", missing)
	}
	s.pages[pageStaffReports] = t
	return nil
}

// staffReportRoutes are the reports page's routes (StaffRoutes lists
// them; without the desk the page answers 404).
func (s *Server) staffReportRoutes() []StaffRoute {
	return []StaffRoute{
		{http.MethodGet, "/staff/reports", StaffFull, agent.PermReportRead, http.HandlerFunc(s.handleStaffReports)},
	}
}

// reportOption is a choice of the period or team selector.
type reportOption struct {
	Value    string
	Label    string
	Selected bool
}

// reportRow is one line of a table: a label and its figures.
type reportRow struct {
	Key, Label string
	Value      string
	Extra      string
}

// staffReportsData is the content of staff_reports.html.
type staffReportsData struct {
	staffNav
	Periods []reportOption
	Teams   []reportOption
	Report  *desk.Report
	// From and To (inclusive) are the period's first and last days.
	From, To time.Time
	// VolumeChart and CSATChart are the SVG charts.
	VolumeChart template.HTML
	CSATChart   template.HTML
	Days        []reportRow
	Channels    []reportRow
	Categories  []reportRow
	Times       []reportRow
	SLA         []reportRow
	CSAT        []reportRow
	Scores      []reportRow
}

func (s *Server) handleStaffReports(w http.ResponseWriter, r *http.Request) {
	if s.desk == nil || s.pages[pageStaffReports] == nil {
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return
	}
	q := r.URL.Query()
	days := 7
	if n, err := strconv.Atoi(q.Get("days")); err == nil && slices.Contains(reportPeriods, n) {
		days = n
	}
	team := q.Get("team")
	if !slices.Contains(reportTeams, team) {
		team = ""
	}
	// The period ends with today (UTC).
	end := s.desk.svc.Clock.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	rq := desk.ReportQuery{From: end.Add(-time.Duration(days) * 24 * time.Hour), To: end, Team: team}
	a := staffFrom(r)
	rep, err := s.desk.svc.Report(r.Context(), desk.Agent(a.agent.ID), rq)
	if err != nil {
		s.staffInternal(w, r, err)
		return
	}
	p := s.staffPage(r, "reports.page_title")
	d := staffReportsData{staffNav: s.navFor(r), Report: rep, From: rq.From, To: rq.To.Add(-24 * time.Hour)}
	for _, n := range reportPeriods {
		d.Periods = append(d.Periods, reportOption{Value: strconv.Itoa(n), Label: p.T("reports.period.days", "N", n), Selected: n == days})
	}
	for _, t := range reportTeams {
		label := p.T("reports.team.all")
		if t != "" {
			label = t
			if id := "agent.team." + t; s.cat.Has(id) {
				label = p.T(id)
			}
		}
		d.Teams = append(d.Teams, reportOption{Value: t, Label: label, Selected: t == team})
	}
	var bars []chartBar
	for _, dc := range rep.Days {
		label := dc.Day.Format("01-02")
		bars = append(bars, chartBar{Label: label, Value: dc.Count})
		d.Days = append(d.Days, reportRow{Key: dc.Day.Format("2006-01-02"), Label: dc.Day.Format("2006-01-02"), Value: strconv.Itoa(dc.Count)})
	}
	d.VolumeChart = barChart("chart-volume", p.T("reports.chart.volume"), p.T("reports.chart.volume_desc", "N", rep.Total, "Days", days), bars)
	for _, ch := range desk.Channels() {
		d.Channels = append(d.Channels, reportRow{Key: string(ch), Label: desk.ChannelLabel(s.cat, p.Lang, ch), Value: strconv.Itoa(rep.ByChannel[ch])})
	}
	for _, c := range desk.Categories() {
		d.Categories = append(d.Categories, reportRow{Key: string(c), Label: desk.CategoryLabel(s.cat, p.Lang, c), Value: strconv.Itoa(rep.ByCategory[c])})
	}
	d.Times = []reportRow{
		{Key: "first_response", Label: p.T("reports.times.first_response"), Value: reportDuration(p, rep.FirstResponse.Median), Extra: reportDuration(p, rep.FirstResponse.P90)},
		{Key: "resolution", Label: p.T("reports.times.resolution"), Value: reportDuration(p, rep.Resolution.Median), Extra: reportDuration(p, rep.Resolution.P90)},
	}
	for _, c := range rep.SLA {
		d.SLA = append(d.SLA, reportRow{Key: c.Metric, Label: p.T("reports.sla." + c.Metric), Value: reportPercent(p, c.Percent()),
			Extra: p.T("reports.sla.counts", "Met", c.Met, "Ended", c.Ended(), "Running", c.Running)})
	}
	cs := rep.CSAT
	avg := p.T("reports.percent.none")
	if cs.Ratings > 0 {
		avg = fmt.Sprintf("%d.%02d", cs.AverageX100/100, cs.AverageX100%100)
	}
	d.CSAT = []reportRow{
		{Key: "average", Label: p.T("reports.csat.average"), Value: avg},
		{Key: "ratings", Label: p.T("reports.csat.ratings"), Value: strconv.Itoa(cs.Ratings)},
		{Key: "response_rate", Label: p.T("reports.csat.response_rate"), Value: reportPercent(p, cs.ResponsePercent()),
			Extra: p.T("reports.csat.response_counts", "Rated", cs.Rated, "Resolved", cs.Resolved)},
	}
	var scoreBars []chartBar
	for i, n := range cs.Distribution {
		scoreBars = append(scoreBars, chartBar{Label: strconv.Itoa(i + 1), Value: n})
		d.Scores = append(d.Scores, reportRow{Key: strconv.Itoa(i + 1), Label: p.T("csat.widget.score", "N", i+1), Value: strconv.Itoa(n)})
	}
	d.CSATChart = barChart("chart-csat", p.T("reports.chart.csat"), p.T("reports.chart.csat_desc", "N", cs.Ratings), scoreBars)
	p.Data = d
	s.render(w, r, pageStaffReports, p)
}

// reportDuration writes a duration as minutes or hours and minutes.
func reportDuration(p *page, d time.Duration) string {
	switch {
	case d <= 0:
		return p.T("reports.duration.none")
	case d < time.Hour:
		return p.T("reports.duration.minutes", "M", int((d+30*time.Second)/time.Minute))
	}
	m := int((d + 30*time.Second) / time.Minute)
	return p.T("reports.duration.hours", "H", m/60, "M", m%60)
}

// reportPercent writes a share, or a dash when there is nothing to count.
func reportPercent(p *page, pct int) string {
	if pct < 0 {
		return p.T("reports.percent.none")
	}
	return strconv.Itoa(pct) + "%"
}
