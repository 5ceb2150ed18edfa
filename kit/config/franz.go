package config

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pierrec/lz4/v4"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Franz returns franz-go client options equivalent to Sarama(): the same
// brokers, TLS and SASL settings, acks=all with the idempotent producer
// (franz-go's default) and murmur2 partitioning (its default partitioner
// places keyed records like the Java client). The connectors use franz-go.
func (k *Kafka) Franz(log *slog.Logger) ([]kgo.Opt, error) {
	if len(k.Brokers()) == 0 {
		return nil, fmt.Errorf("bootstrap.servers is empty")
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(k.Brokers()...),
		kgo.ClientID(k.ClientID),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(k.Linger),
		kgo.RecordDeliveryTimeout(k.deliveryTimeout()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.WithLogger(franzLogger{log.With("component", "franz-go")}),
	}
	if k.SessionTimeout > 0 {
		opts = append(opts, kgo.SessionTimeout(k.SessionTimeout), kgo.HeartbeatInterval(k.SessionTimeout/3))
	}
	if k.GroupInstanceID != "" {
		opts = append(opts, kgo.InstanceID(k.GroupInstanceID))
	}
	switch strings.ToLower(k.CompressionType) {
	case "none", "":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.NoCompression()))
	case "gzip":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.GzipCompression()))
	case "snappy":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	case "lz4":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.Lz4Compression()), kgo.WithCompressor(lz4Frames))
	case "zstd":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	default:
		return nil, fmt.Errorf("compression.type %q: want none, gzip, snappy, lz4 or zstd", k.CompressionType)
	}
	tc, mechanism, err := k.security()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, kgo.Dialer((&tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: tc}).DialContext))
	}
	switch mechanism {
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: k.SASLUsername, Pass: k.SASLPassword}.AsMechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: k.SASLUsername, Pass: k.SASLPassword}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: k.SASLUsername, Pass: k.SASLPassword}.AsSha512Mechanism()))
	}
	return opts, nil
}

type franzLogger struct{ log *slog.Logger }

func (l franzLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (l franzLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lv := slog.LevelWarn
	if level == kgo.LogLevelError {
		lv = slog.LevelError
	}
	l.log.Log(context.Background(), lv, msg, keyvals...)
}

// deliveryTimeout is delivery.timeout.ms, Java's default when unset.
func (k *Kafka) deliveryTimeout() time.Duration {
	if k.DeliveryTimeout > 0 {
		return k.DeliveryTimeout
	}
	return 2 * time.Minute
}

// lz4Frames compresses produce batches into LZ4 frames of 64 KiB blocks,
// the block size of Java's KafkaLZ4BlockOutputStream. franz-go's default
// writer declares 4 MiB blocks, which makes every writer, and every
// reader of the batch (sarama's and franz-go's consumers), hold 4 MiB
// buffers: a quarter of a processor's heap.
var lz4Frames kgo.Compressor = &lz4Compressor{pool: sync.Pool{New: func() any {
	w := lz4.NewWriter(nil)
	if err := w.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.CompressionLevelOption(lz4.Fast)); err != nil {
		panic(err) // constant options
	}
	return w
}}}

type lz4Compressor struct{ pool sync.Pool }

func (c *lz4Compressor) Compress(dst *bytes.Buffer, src []byte, _ ...kgo.CompressFlag) ([]byte, kgo.CompressionCodecType) {
	w := c.pool.Get().(*lz4.Writer)
	defer c.pool.Put(w)
	w.Reset(dst)
	if _, err := w.Write(src); err != nil {
		return nil, kgo.CodecError
	}
	if err := w.Close(); err != nil {
		return nil, kgo.CodecError
	}
	return dst.Bytes(), kgo.CodecLz4
}
