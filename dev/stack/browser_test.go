package stack

import (
	"context"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderstream/pipeline/internal/testkit"
	"github.com/orderstream/pipeline/kit/config"
)

// screenshotDir is where the browser test leaves its screenshot for
// people to look at (git-ignored).
const screenshotDir = "../../.data/screenshots"

// TestDashboardInABrowser runs a bounded run of the stack (orders flowing
// for about half a minute) and looks at its dashboard in a headless
// Chromium: the page loads without console errors, the diagram and the
// charts render, the numbers change while orders flow, and once every
// order is in MongoDB a search for the top customer shows the total
// computed independently from the orders topic. Goka's monitor pages are
// looked at too. A screenshot goes to .data/screenshots/dashboard.png.
func TestDashboardInABrowser(t *testing.T) {
	testkit.Slow(t, "the dashboard in a browser")
	dsn := testkit.MySQL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a backstop for a hung run
	defer cancel()
	// The browser first: it starts while nothing flows yet.
	tab := testkit.Browser(t, ctx, 1440, 1250)
	var cmu sync.Mutex
	var problems []string
	console := chromedp.Console(tab)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleWarning {
				cmu.Lock()
				problems = append(problems, fmt.Sprintf("%s %s:%d: %s", m.Type, m.URL, m.Line+1, m.Text))
				cmu.Unlock()
			}
		}
	}()

	started := make(chan Endpoints, 1)
	atEnd := make(chan Endpoints, 1)
	release := make(chan struct{})
	runErr := make(chan error, 1)
	out := &testkit.Output{}
	go func() {
		runErr <- Run(ctx, Options{
			DataDir: t.TempDir(), MySQLDSN: dsn, KafkaAddr: "127.0.0.1:0", RegistryAddr: "127.0.0.1:0", MongoAddr: "127.0.0.1:0",
			MonitorAddr: "127.0.0.1:0", Rate: 50, Orders: 1500, Retention: time.Hour, RetentionMB: 64, Progress: time.Second,
			Scrape: 500 * time.Millisecond, Log: config.Log{Level: "warn", Format: "text"}, Out: out,
			Started: func(e Endpoints) { started <- e },
			Check: func(ctx context.Context, e Endpoints) error {
				atEnd <- e
				select { // the stack stays up, idle, while the test looks
				case <-release:
				case <-ctx.Done():
				}
				return nil
			},
		})
	}()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	var e Endpoints
	select {
	case e = <-started:
	case err := <-runErr:
		t.Fatalf("the stack stopped before it ran: %v\n%s", err, out)
	}

	began := time.Now()
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(e.MonitorURL+"/"), chromedp.WaitVisible(chromedp.CSS("#diagram .stage"))))
	loaded := time.Since(began)
	awaitJS(t, tab, `window.dashboard.polls >= 2`, "the page polls its JSON")
	t.Logf("page loaded (diagram drawn) %v after navigating", loaded.Round(time.Millisecond))

	// The diagram: every service, every topic of the flow, the edges.
	assert.Equal(t, 5, evalJS[int](t, tab, `document.querySelectorAll('#diagram .stage').length`))
	assert.Equal(t, 5, evalJS[int](t, tab, `document.querySelectorAll('#diagram .topic').length`))
	assert.GreaterOrEqual(t, evalJS[int](t, tab, `document.querySelectorAll('#diagram path.edge').length`), 13)
	// Three charts, drawn on canvases with a size.
	assert.Equal(t, 3, evalJS[int](t, tab, `[...document.querySelectorAll('.uplot canvas')].filter(c => c.width > 100 && c.height > 100).length`))

	// The numbers change while orders flow: orders on the topic, the join's
	// rate, the charts' points.
	first := evalJS[float64](t, tab, `window.dashboard.state.topics.find(t => t.name == 'orders').records || 0`)
	awaitJS(t, tab, fmt.Sprintf(`window.dashboard.state.topics.find(t => t.name == 'orders').records > %v`, first), "orders on the topic grow")
	awaitJS(t, tab, `window.dashboard.state.stages.find(s => s.name == 'orders-details').rate > 0`, "orders-details joins")
	awaitJS(t, tab, `document.querySelector('#stage-orders-details .rate').textContent.includes('orders/s') && !document.querySelector('#stage-orders-details .rate').textContent.startsWith('—')`, "the diagram shows the join's rate")
	awaitJS(t, tab, `window.dashboard.charts['chart-orders'].data[1].filter(v => v > 0).length >= 2`, "the orders chart has points")
	awaitJS(t, tab, `window.dashboard.charts['chart-latency'].data[1].filter(v => v != null).length >= 1`, "the latency chart has a p99")
	awaitJS(t, tab, `document.querySelectorAll('#top-rows tr[data-id]').length >= 5`, "the top customers are listed")
	assert.Equal(t, 0, evalJS[int](t, tab, `document.querySelectorAll('#diagram .stage.down').length`), "no service is down")
	assert.True(t, evalJS[bool](t, tab, `document.documentElement.scrollWidth <= document.documentElement.clientWidth`), "no sideways scroll")

	// Every order is in MongoDB: the totals, computed from the orders topic.
	select {
	case e = <-atEnd:
	case err := <-runErr:
		t.Fatalf("the stack stopped before its orders were totalled: %v\n%s", err, out)
	}
	want, n, err := expectedTotals(ctx, e)
	require.NoError(t, err)
	require.Equal(t, int64(1500), n)
	top := ""
	for id, w := range want {
		if top == "" || ratOf(w.amount).Cmp(ratOf(want[top].amount)) > 0 {
			top = id
		}
	}
	// Search for it: the page's total must become exactly the computed one
	// (the dashboard reads customer-totals as it goes).
	require.NoError(t, chromedp.Do(tab, chromedp.SetValue(chromedp.CSS("#q"), top), chromedp.Click(chromedp.CSS("#search-form button"))))
	sel := fmt.Sprintf(`#results .match[data-id="%s"]`, top)
	wantText := grouped(want[top].amount)
	awaitJS(t, tab, fmt.Sprintf(`(document.querySelector('%s .total') || {}).textContent == %q`, sel, wantText),
		fmt.Sprintf("the search shows customer %s's total %s", top, wantText))
	assert.Equal(t, fmt.Sprint(want[top].orders), evalJS[string](t, tab, fmt.Sprintf(`document.querySelector('%s .orders').textContent.replace(/,/g, '')`, sel)))
	awaitJS(t, tab, fmt.Sprintf(`(document.querySelector('#top-rows tr[data-id]') || {dataset: {}}).dataset.id == %q`, top), "the top customer heads the list")
	assert.Equal(t, wantText, evalJS[string](t, tab, `document.querySelector('#top-rows tr[data-id] .total').textContent`))

	shot, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(screenshotDir, 0o755))
	path := filepath.Join(screenshotDir, "dashboard.png")
	require.NoError(t, os.WriteFile(path, shot, 0o644))
	abs, _ := filepath.Abs(path)
	t.Logf("screenshot: %s", abs)

	// Goka's monitor: redirected from the slash-less path, titled, within
	// the window, edges named by topic and record.
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(e.MonitorURL+"/monitor"), chromedp.WaitVisible(chromedp.CSS(".panel"))))
	loc, err := chromedp.Run(tab, chromedp.Location())
	require.NoError(t, err)
	assert.Equal(t, e.MonitorURL+"/monitor/", loc)
	title, err := chromedp.Run(tab, chromedp.Title())
	require.NoError(t, err)
	assert.Contains(t, title, "Goka monitor")
	assert.True(t, evalJS[bool](t, tab, `document.documentElement.scrollWidth <= document.documentElement.clientWidth`), "the monitor does not scroll sideways")
	body := evalJS[string](t, tab, `document.body.innerText`)
	assert.Contains(t, body, "order-details (io.orderstream.OrderDetails, Avro)")
	assert.NotContains(t, body, "codecs.Lenient")

	close(release)
	require.NoError(t, <-runErr, out.String())
	cmu.Lock()
	defer cmu.Unlock()
	assert.Empty(t, problems, "console errors and warnings")
}

// awaitJS polls expr in the page until it is true; the test's context is
// the only bound.
func awaitJS(t *testing.T, tab context.Context, expr, what string) {
	t.Helper()
	var last error
	for {
		ok, err := chromedp.Run(tab, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		last = err
		select {
		case <-tab.Done():
			t.Fatalf("%s: never came true (%s; last error %v)", what, expr, last)
		case <-time.After(100 * time.Millisecond): // polling interval of a condition
		}
	}
}

func evalJS[T any](t *testing.T, tab context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(tab, chromedp.Evaluate[T](expr))
	require.NoError(t, err, expr)
	return v
}

// grouped writes an exact decimal with thousands separators, as the page
// does.
func grouped(s string) string {
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String() + "." + frac
}

func ratOf(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return new(big.Rat)
	}
	return r
}
