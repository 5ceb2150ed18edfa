package config

import (
	"flag"
	"log/slog"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newFlags() (*flag.FlagSet, *Kafka, *Registry) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var k Kafka
	var r Registry
	k.RegisterFlags(fs, "test")
	r.RegisterFlags(fs)
	return fs, &k, &r
}

func TestEnvironmentFillsFlagsTheCommandLineLeftOut(t *testing.T) {
	fs, k, r := newFlags()
	t.Setenv("BOOTSTRAP_SERVERS", "env:9092")
	t.Setenv("SCHEMA_REGISTRY_URL", "http://env:8081")
	t.Setenv("LINGER_MS", "20")
	t.Setenv("SESSION_TIMEOUT_MS", "6s")
	require.NoError(t, Parse(fs, []string{"--bootstrap.servers", "flag:9092"}))
	assert.Equal(t, "flag:9092", k.BootstrapServers, "the command line wins")
	assert.Equal(t, "http://env:8081", r.URL)
	assert.Equal(t, 20*time.Millisecond, k.Linger, "Kafka-style milliseconds")
	assert.Equal(t, 6*time.Second, k.SessionTimeout, "or a duration")
}

func TestBadEnvironmentValueNamesTheVariable(t *testing.T) {
	fs, _, _ := newFlags()
	t.Setenv("NUM_PARTITIONS", "six")
	err := Parse(fs, nil)
	require.ErrorContains(t, err, `NUM_PARTITIONS="six"`)
}

func TestSaramaConfig(t *testing.T) {
	fs, k, _ := newFlags()
	require.NoError(t, Parse(fs, nil))
	cfg, err := k.Sarama()
	require.NoError(t, err)
	assert.Equal(t, sarama.WaitForAll, cfg.Producer.RequiredAcks)
	assert.True(t, cfg.Producer.Idempotent)
	assert.Equal(t, 1, cfg.Net.MaxOpenRequests)
	assert.Equal(t, sarama.OffsetOldest, cfg.Consumer.Offsets.Initial)
	assert.False(t, cfg.Net.SASL.Enable)
}

func TestConfluentCloudStyleConfig(t *testing.T) {
	fs, k, _ := newFlags()
	require.NoError(t, Parse(fs, []string{"--security.protocol", "SASL_SSL", "--sasl.username", "KEY", "--sasl.password", "SECRET"}))
	cfg, err := k.Sarama()
	require.NoError(t, err)
	assert.True(t, cfg.Net.TLS.Enable)
	assert.True(t, cfg.Net.SASL.Enable)
	assert.Equal(t, sarama.SASLMechanism(sarama.SASLTypePlaintext), cfg.Net.SASL.Mechanism)

	k.SASLMechanism = "SCRAM-SHA-512"
	cfg, err = k.Sarama()
	require.NoError(t, err)
	assert.NotNil(t, cfg.Net.SASL.SCRAMClientGeneratorFunc)
}

func TestConfigErrorsNameTheFix(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--security.protocol", "SASL_SSL"}, "needs sasl.username and sasl.password"},
		{[]string{"--security.protocol", "KERBEROS"}, "want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"},
		{[]string{"--compression.type", "brotli"}, "compression.type"},
		{[]string{"--bootstrap.servers", ""}, "bootstrap.servers is empty"},
		{[]string{"--security.protocol", "SSL", "--ssl.ca.location", "/nonexistent.pem"}, "ssl.ca.location"},
		{[]string{"--security.protocol", "SASL_PLAINTEXT", "--sasl.mechanism", "GSSAPI", "--sasl.username", "u", "--sasl.password", "p"}, "sasl.mechanism"},
	} {
		fs, k, _ := newFlags()
		require.NoError(t, Parse(fs, tc.args))
		_, err := k.Sarama()
		assert.ErrorContains(t, err, tc.want, "%v", tc.args)
	}
}

func TestRegistryBasicAuth(t *testing.T) {
	fs, _, r := newFlags()
	require.NoError(t, Parse(fs, []string{"--basic.auth.user.info", "no-colon"}))
	_, err := r.Client()
	require.ErrorContains(t, err, "KEY:SECRET")
}

func TestFranzConfig(t *testing.T) {
	fs, k, _ := newFlags()
	require.NoError(t, Parse(fs, []string{"--security.protocol", "SASL_SSL", "--sasl.username", "KEY", "--sasl.password", "SECRET", "--sasl.mechanism", "SCRAM-SHA-256"}))
	opts, err := k.Franz(slog.Default())
	require.NoError(t, err)
	assert.NotEmpty(t, opts)
	k.SASLPassword = ""
	_, err = k.Franz(slog.Default())
	require.ErrorContains(t, err, "needs sasl.username and sasl.password")
}
