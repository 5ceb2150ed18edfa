package config

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/xdg-go/scram"

	"github.com/orderstream/pipeline/kit/murmur2"
)

// Kafka is the connection and client configuration shared by every binary.
type Kafka struct {
	BootstrapServers  string
	SecurityProtocol  string
	SASLMechanism     string
	SASLUsername      string
	SASLPassword      string
	SSLCALocation     string
	ClientID          string
	CompressionType   string
	Linger            time.Duration
	DeliveryTimeout   time.Duration
	SessionTimeout    time.Duration
	GroupInstanceID   string
	ReplicationFactor int
	Partitions        int
	CreateTopics      bool
}

// RegisterFlags adds the Kafka flags to fs with local defaults.
func (k *Kafka) RegisterFlags(fs *flag.FlagSet, clientID string) {
	fs.StringVar(&k.BootstrapServers, "bootstrap.servers", "127.0.0.1:9092", "Kafka brokers, comma separated")
	fs.StringVar(&k.SecurityProtocol, "security.protocol", "PLAINTEXT", "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (Confluent Cloud: SASL_SSL)")
	fs.StringVar(&k.SASLMechanism, "sasl.mechanism", "PLAIN", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (Confluent Cloud: PLAIN)")
	fs.StringVar(&k.SASLUsername, "sasl.username", "", "SASL user (Confluent Cloud: the API key)")
	fs.StringVar(&k.SASLPassword, "sasl.password", "", "SASL password (Confluent Cloud: the API secret)")
	fs.StringVar(&k.SSLCALocation, "ssl.ca.location", "", "PEM file of CA certificates to trust instead of the system's")
	fs.StringVar(&k.ClientID, "client.id", clientID, "Kafka client id")
	fs.StringVar(&k.CompressionType, "compression.type", "lz4", "none, gzip, snappy, lz4 or zstd")
	DurationMs(fs, &k.Linger, "linger.ms", 5*time.Millisecond, "how long the producer waits to fill a batch, in ms or as a duration (5ms)")
	DurationMs(fs, &k.DeliveryTimeout, "delivery.timeout.ms", 2*time.Minute, "how long the producer keeps retrying a record before it fails (and the service restarts without committing past it), in ms or as a duration (120s), as Java's delivery.timeout.ms")
	fs.StringVar(&k.GroupInstanceID, "group.instance.id", "", "static group membership (KIP-345), unique per instance and stable across its restarts (e.g. the pod name): a restart within session.timeout.ms moves no partitions")
	DurationMs(fs, &k.SessionTimeout, "session.timeout.ms", 10*time.Second, "consumer group session timeout, in ms or as a duration (10s): how soon a crashed instance's partitions move to another")
	fs.IntVar(&k.ReplicationFactor, "replication.factor", 1, "replication factor of topics this service creates (Confluent Cloud: 3)")
	fs.IntVar(&k.Partitions, "num.partitions", 6, "partitions of topics this service creates")
	fs.BoolVar(&k.CreateTopics, "create.topics", true, "create missing topics at start")
}

// Brokers splits BootstrapServers.
func (k *Kafka) Brokers() []string {
	var out []string
	for _, b := range strings.Split(k.BootstrapServers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// Sarama returns the client configuration every sarama client of ours uses:
// streams start at the oldest offset for a new group (like Kafka Streams),
// the producer waits for all in-sync replicas and is idempotent, keys are
// partitioned with murmur2 like the Java client.
func (k *Kafka) Sarama() (*sarama.Config, error) {
	if len(k.Brokers()) == 0 {
		return nil, fmt.Errorf("bootstrap.servers is empty")
	}
	cfg := goka.DefaultConfig()
	cfg.ClientID = k.ClientID
	cfg.Version = sarama.V3_6_0_0
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	// Fetched records wait in per-partition buffers (sarama's defaults: 1
	// MiB fetches, 256 messages): with a processor's inputs and tables
	// that is most of its memory, for no gain in throughput measured (make
	// bench).
	cfg.Consumer.Fetch.Default = 256 << 10
	cfg.ChannelBufferSize = 64
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1 // required by the idempotent producer; keeps per-partition order through retries
	cfg.Producer.Retry.Max = 20
	cfg.Producer.Retry.Backoff = 250 * time.Millisecond
	cfg.Producer.Flush.Frequency = k.Linger
	cfg.Producer.Partitioner = murmur2.NewPartitioner
	cfg.Metadata.AllowAutoTopicCreation = false
	cfg.Consumer.Group.InstanceId = k.GroupInstanceID
	if k.SessionTimeout > 0 {
		cfg.Consumer.Group.Session.Timeout = k.SessionTimeout
		cfg.Consumer.Group.Heartbeat.Interval = k.SessionTimeout / 3
	}
	switch strings.ToLower(k.CompressionType) {
	case "none", "":
		cfg.Producer.Compression = sarama.CompressionNone
	case "gzip":
		cfg.Producer.Compression = sarama.CompressionGZIP
	case "snappy":
		cfg.Producer.Compression = sarama.CompressionSnappy
	case "lz4":
		cfg.Producer.Compression = sarama.CompressionLZ4
	case "zstd":
		cfg.Producer.Compression = sarama.CompressionZSTD
	default:
		return nil, fmt.Errorf("compression.type %q: want none, gzip, snappy, lz4 or zstd", k.CompressionType)
	}

	tc, mechanism, err := k.security()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		cfg.Net.TLS.Enable = true
		cfg.Net.TLS.Config = tc
	}
	if mechanism != "" {
		cfg.Net.SASL.Enable = true
		cfg.Net.SASL.User = k.SASLUsername
		cfg.Net.SASL.Password = k.SASLPassword
		switch mechanism {
		case "PLAIN":
			cfg.Net.SASL.Mechanism = sarama.SASLTypePlaintext
		case "SCRAM-SHA-256":
			cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
			cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.HashGeneratorFcn(sha256.New)} }
		case "SCRAM-SHA-512":
			cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
			cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.HashGeneratorFcn(sha512.New)} }
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("kafka client configuration: %w", err)
	}
	return cfg, nil
}

// security checks security.protocol and its settings, and returns the TLS
// configuration (nil without TLS) and the SASL mechanism ("" without SASL),
// for both Kafka clients.
func (k *Kafka) security() (*tls.Config, string, error) {
	protocol := strings.ToUpper(k.SecurityProtocol)
	switch protocol {
	case "PLAINTEXT", "", "SSL", "SASL_SSL", "SASL_PLAINTEXT":
	default:
		return nil, "", fmt.Errorf("security.protocol %q: want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", k.SecurityProtocol)
	}
	var tc *tls.Config
	if protocol == "SSL" || protocol == "SASL_SSL" {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
		if k.SSLCALocation != "" {
			pem, err := os.ReadFile(k.SSLCALocation)
			if err != nil {
				return nil, "", fmt.Errorf("ssl.ca.location: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, "", fmt.Errorf("ssl.ca.location %s: no PEM certificates in it", k.SSLCALocation)
			}
			tc.RootCAs = pool
		}
	}
	if !strings.HasPrefix(protocol, "SASL_") {
		return tc, "", nil
	}
	if k.SASLUsername == "" || k.SASLPassword == "" {
		return nil, "", fmt.Errorf("security.protocol %s needs sasl.username and sasl.password (SASL_USERNAME, SASL_PASSWORD)", protocol)
	}
	mechanism := strings.ToUpper(k.SASLMechanism)
	switch mechanism {
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		return tc, mechanism, nil
	}
	return nil, "", fmt.Errorf("sasl.mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", k.SASLMechanism)
}

// TopicManager returns Goka's topic manager configuration: tables it
// creates (group tables) get our replication factor.
func (k *Kafka) TopicManager() *goka.TopicManagerConfig {
	tm := goka.NewTopicManagerConfig()
	tm.Table.Replication = k.ReplicationFactor
	tm.Stream.Replication = k.ReplicationFactor
	tm.CreateTopicTimeout = 30 * time.Second
	return tm
}

type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (c *scramClient) Begin(user, pass, authzID string) error {
	cl, err := c.hash.NewClient(user, pass, authzID)
	if err != nil {
		return err
	}
	c.conv = cl.NewConversation()
	return nil
}

func (c *scramClient) Step(challenge string) (string, error) { return c.conv.Step(challenge) }
func (c *scramClient) Done() bool                            { return c.conv.Done() }
