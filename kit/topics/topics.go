// Package topics creates the topics a service needs and checks the ones that
// exist: a partition count that differs from what a co-partitioned group
// needs is an error at start, not silent wrong answers later. Ensure returns
// only once every partition of every topic is served by its leader, so that
// what is written next does not meet UNKNOWN_TOPIC_OR_PARTITION (Kafka
// creates topics asynchronously). ReadToEnd loads state kept in a compacted
// topic.
package topics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Spec describes one topic.
type Spec struct {
	Name       string
	Partitions int32 // 0: use the default
	Compacted  bool
	Configs    map[string]string // more topic configs, e.g. retention.ms
}

// Ensure creates the missing topics of specs (when create is true), checks
// that the topics in each group of copartitioned (the input and the table
// of a Goka group, say) have equal partition counts, and waits until every
// partition is served by its leader.
func Ensure(ctx context.Context, cl *kgo.Client, specs []Spec, defaultPartitions int32, replication int16, create bool, copartitioned ...[]string) error {
	// A client of its own, refreshing metadata at once: topics created here
	// must show without waiting out a cached "unknown topic" (and cl's
	// cache is left alone).
	probe, err := kgo.NewClient(append(cl.Opts(), kgo.MetadataMinAge(50*time.Millisecond))...)
	if err != nil {
		return err
	}
	defer probe.Close()
	adm := kadm.NewClient(probe)
	names := make([]string, 0, len(specs))
	for _, s := range specs {
		names = append(names, s.Name)
	}
	existing, err := partitions(ctx, adm, names)
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
		configs := map[string]*string{}
		if s.Compacted {
			configs["cleanup.policy"] = kadm.StringPtr("compact")
		}
		for k, v := range s.Configs {
			configs[k] = kadm.StringPtr(v)
		}
		res, err := adm.CreateTopic(ctx, n, replication, configs, s.Name)
		if err == nil {
			err = res.Err
		}
		if errors.Is(err, kerr.TopicAlreadyExists) {
			err = nil // created concurrently by another service
		}
		if err != nil {
			return fmt.Errorf("creating topic %q (%d partitions, replication factor %d): %w", s.Name, n, replication, err)
		}
		slog.InfoContext(ctx, "created topic", "topic", s.Name, "partitions", n, "replication.factor", replication, "compacted", s.Compacted)
	}
	if err := awaitServed(ctx, adm, 30*time.Second, names...); err != nil {
		return err
	}
	if existing, err = partitions(ctx, adm, names); err != nil {
		return err
	}
	for _, group := range copartitioned {
		if err := copartitionedIn(existing, group); err != nil {
			return err
		}
	}
	return nil
}

// CheckCopartitioned checks that the topics (the input and the table of a
// Goka group, say) have one partition count.
func CheckCopartitioned(ctx context.Context, cl *kgo.Client, names []string) error {
	existing, err := partitions(ctx, kadm.NewClient(cl), names)
	if err != nil {
		return err
	}
	return copartitionedIn(existing, names)
}

func copartitionedIn(existing map[string]int32, group []string) error {
	for _, t := range group[1:] {
		if existing[t] != existing[group[0]] {
			return fmt.Errorf("topics %q (%d partitions) and %q (%d partitions) must have the same number of partitions: "+
				"records with one key must land in partitions of the same number for the processor to see them together",
				group[0], existing[group[0]], t, existing[t])
		}
	}
	return nil
}

// AwaitServed waits until every partition of the topics answers a
// ListOffsets request from its leader: the topics exist, have leaders, and
// the leaders host them. It gives up after timeout, naming what is not
// served yet. It asks through a client of its own with cl's connection
// settings that refreshes metadata at once (cl may cache that a topic does
// not exist for seconds).
func AwaitServed(ctx context.Context, cl *kgo.Client, timeout time.Duration, names ...string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	probe, err := kgo.NewClient(append(cl.Opts(), kgo.MetadataMinAge(50*time.Millisecond))...)
	if err != nil {
		return err
	}
	defer probe.Close()
	return awaitServed(ctx, kadm.NewClient(probe), timeout, names...)
}

func awaitServed(ctx context.Context, adm *kadm.Client, timeout time.Duration, names ...string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		var waiting []string
		ends, err := adm.ListEndOffsets(ctx, names...)
		if err == nil {
			have := map[string]bool{}
			ends.Each(func(o kadm.ListedOffset) {
				have[o.Topic] = true
				if o.Err != nil {
					waiting = append(waiting, fmt.Sprintf("%s/%d (%v)", o.Topic, o.Partition, o.Err))
				}
			})
			for _, n := range names {
				if !have[n] {
					waiting = append(waiting, n+" (not in metadata)")
				}
			}
			if len(waiting) == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if err == nil {
				slices.Sort(waiting)
				err = fmt.Errorf("not served by a leader: %v", waiting)
			}
			return fmt.Errorf("topics %v not ready within %v: %w", names, timeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func partitions(ctx context.Context, adm *kadm.Client, names []string) (map[string]int32, error) {
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("describing topics %v: %w", names, err)
	}
	out := map[string]int32{}
	for _, d := range details {
		switch {
		case d.Err == nil:
			out[d.Topic] = int32(len(d.Partitions))
		case errors.Is(d.Err, kerr.UnknownTopicOrPartition):
		default:
			return nil, fmt.Errorf("describing topic %q: %w", d.Topic, d.Err)
		}
	}
	return out, nil
}

// RetentionMs formats a retention for the retention.ms topic config.
func RetentionMs(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
