package services

import (
	"flag"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderstream/pipeline/dashboard"
)

// TestTheDashboardDrawsTheTable: every stage the dashboard's diagram
// draws is a service of Table, so its names, groups and dead-letter
// topics come from the services themselves.
func TestTheDashboardDrawsTheTable(t *testing.T) {
	var names []string
	for _, s := range Table {
		names = append(names, s.Name)
	}
	for _, stage := range dashboard.StageNames() {
		assert.Contains(t, names, stage, "the dashboard draws %s, which services.Table does not have", stage)
	}
	groups, dlqs := wiring()
	assert.Equal(t, []string{"orders-details", "orders-details-retry"}, groups["orders-details"])
	assert.Equal(t, []string{"orders-totals-by-customer"}, groups["orders-totals-by-customer"])
	assert.Equal(t, []string{"mongo-sink"}, groups["mongo-sink"])
	assert.NotContains(t, groups, "cdc-source", "no consumer group")
	for _, name := range []string{"cdc-source", "orders-details", "orders-totals-by-customer", "mongo-sink"} {
		assert.Equal(t, name+"-dlq", dlqs[name])
	}
}

func TestDashboardServicesFlag(t *testing.T) {
	d := Dashboard{Services: "orders-details=127.0.0.1:9402, mongo-sink=https://sink.example:9405,"}
	targets, err := d.targets()
	require.NoError(t, err)
	assert.Equal(t, []dashboard.Target{{Name: "orders-details", URL: "http://127.0.0.1:9402"}, {Name: "mongo-sink", URL: "https://sink.example:9405"}}, targets)
	_, err = (&Dashboard{Services: "127.0.0.1:9402"}).targets()
	assert.ErrorContains(t, err, "not name=host:port")

	// The default: every service at its default address.
	fs := flag.NewFlagSet("dashboard", flag.ContinueOnError)
	var def Dashboard
	def.RegisterFlags(fs)
	targets, err = def.targets()
	require.NoError(t, err)
	require.Len(t, targets, len(Table))
	for i, s := range Table {
		assert.Equal(t, dashboard.Target{Name: s.Name, URL: "http://" + s.HTTPAddr}, targets[i])
	}
}
