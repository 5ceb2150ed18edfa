package dashboard

import (
	"encoding/json"
	"net/http"
	"strconv"
)

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

// serveState: GET /api/state, what the diagram shows now.
func (d *Dashboard) serveState(w http.ResponseWriter, _ *http.Request) {
	d.mu.Lock()
	st := d.state
	d.mu.Unlock()
	writeJSON(w, st)
}

// Series are the charts' data, oldest first, one value per collection:
// columns as uPlot takes them, null where unknown.
type Series struct {
	Time     []float64           `json:"t"`   // unix seconds
	OrdersIn []*float64          `json:"in"`  // orders/s onto the orders topic
	Totalled []*float64          `json:"out"` // orders/s counted into totals
	P99      []*float64          `json:"p99"` // seconds, order created -> total updated, over the previous 30 s
	Lag      map[string][]*int64 `json:"lag"` // per service with consumer groups
	Window   int64               `json:"window_s"`
	Titles   map[string]string   `json:"titles"`
}

// serveSeries: GET /api/series.
func (d *Dashboard) serveSeries(w http.ResponseWriter, _ *http.Request) {
	d.mu.Lock()
	points := d.history.ordered()
	d.mu.Unlock()
	s := Series{Time: []float64{}, OrdersIn: []*float64{}, Totalled: []*float64{}, P99: []*float64{},
		Lag: map[string][]*int64{}, Window: int64(d.o.Window.Seconds()), Titles: map[string]string{}}
	for _, st := range stages {
		if len(d.o.Groups[st.Name]) > 0 {
			s.Lag[st.Name] = []*int64{}
			s.Titles[st.Name] = st.Name
		}
	}
	for _, p := range points {
		s.Time = append(s.Time, float64(p.T)/1000)
		s.OrdersIn = append(s.OrdersIn, p.In)
		s.Totalled = append(s.Totalled, p.Out)
		s.P99 = append(s.P99, p.P99)
		for name := range s.Lag {
			s.Lag[name] = append(s.Lag[name], p.Lag[name])
		}
	}
	writeJSON(w, s)
}

// serveTop: GET /api/top?n=10, the customers with the highest totals.
func (d *Dashboard) serveTop(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil || n <= 0 || n > 100 {
		n = 10
	}
	writeJSON(w, struct {
		Customers []CustomerView `json:"customers"`
		Tables    TablesState    `json:"tables"`
	}{d.tables.topCustomers(n), d.tables.summary()})
}

// serveCustomer: GET /api/customer?q=42 (an id) or ?q=emma (a part of the
// name or email).
func (d *Dashboard) serveCustomer(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("q")
	writeJSON(w, struct {
		Query   string         `json:"query"`
		Matches []CustomerView `json:"matches"`
	}{q, d.tables.search(q, 20)})
}
