// Package topics creates the topics a service needs and checks the ones that
// exist: a partition count that differs from what a co-partitioned join
// needs is an error at start, not silent wrong answers later.
package topics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/IBM/sarama"
)

// Spec describes one topic.
type Spec struct {
	Name       string
	Partitions int32 // 0: use the default
	Compacted  bool
	Configs    map[string]string // more topic configs, e.g. retention.ms
}

// Ensure creates the missing topics of specs (when create is true) and
// checks that the topics in each group of copartitioned (the inputs of one
// Goka group, say) have equal partition counts.
func Ensure(ctx context.Context, admin sarama.ClusterAdmin, specs []Spec, defaultPartitions int32, replication int16, create bool, copartitioned ...[]string) error {
	names := make([]string, 0, len(specs))
	for _, s := range specs {
		names = append(names, s.Name)
	}
	existing, err := partitions(admin, names)
	if err != nil {
		return err
	}
	for _, s := range specs {
		if _, ok := existing[s.Name]; ok {
			continue
		}
		if !create {
			return fmt.Errorf("topic %q does not exist (create it, or start with --create.topics)", s.Name)
		}
		n := s.Partitions
		if n == 0 {
			n = defaultPartitions
		}
		detail := &sarama.TopicDetail{NumPartitions: n, ReplicationFactor: replication, ConfigEntries: map[string]*string{}}
		if s.Compacted {
			detail.ConfigEntries["cleanup.policy"] = ptr("compact")
		}
		for k, v := range s.Configs {
			detail.ConfigEntries[k] = ptr(v)
		}
		err := admin.CreateTopic(s.Name, detail, false)
		var te *sarama.TopicError
		if errors.As(err, &te) && te.Err == sarama.ErrTopicAlreadyExists {
			err = nil // created concurrently by another service
		}
		if err != nil {
			return fmt.Errorf("creating topic %q (%d partitions, replication factor %d): %w", s.Name, n, replication, err)
		}
		slog.InfoContext(ctx, "created topic", "topic", s.Name, "partitions", n, "replication.factor", replication, "compacted", s.Compacted)
	}
	// Topic creation is asynchronous in Kafka: wait until metadata shows them.
	deadline := time.Now().Add(30 * time.Second)
	for {
		existing, err = partitions(admin, names)
		if err != nil {
			return err
		}
		if len(existing) == len(names) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topics %v not visible in metadata 30 s after creation", missing(names, existing))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	for _, group := range copartitioned {
		for _, t := range group[1:] {
			if existing[t] != existing[group[0]] {
				return fmt.Errorf("topics %q (%d partitions) and %q (%d partitions) must have the same number of partitions: "+
					"records with one key must land in partitions of the same number for the processor to see them together",
					group[0], existing[group[0]], t, existing[t])
			}
		}
	}
	return nil
}

func partitions(admin sarama.ClusterAdmin, names []string) (map[string]int32, error) {
	metas, err := admin.DescribeTopics(names)
	if err != nil {
		return nil, fmt.Errorf("describing topics %v: %w", names, err)
	}
	out := map[string]int32{}
	for _, m := range metas {
		switch m.Err {
		case sarama.ErrNoError:
			out[m.Name] = int32(len(m.Partitions))
		case sarama.ErrUnknownTopicOrPartition:
		default:
			return nil, fmt.Errorf("describing topic %q: %w", m.Name, m.Err)
		}
	}
	return out, nil
}

func missing(names []string, have map[string]int32) []string {
	var out []string
	for _, n := range names {
		if _, ok := have[n]; !ok {
			out = append(out, n)
		}
	}
	return out
}

func ptr(s string) *string { return &s }

// RetentionMs formats a retention for the retention.ms topic config.
func RetentionMs(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
