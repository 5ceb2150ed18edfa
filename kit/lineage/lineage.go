// Package lineage records what a service's state was built from, the
// topics it read by topic ID and partition count, and tells what changed
// since: a state that silently stops matching its topics loses or
// double-counts records with no error. Examples: an input grown to more
// partitions moves keys to other partitions (and away from their state);
// a topic deleted and created again starts its offsets at 0 again.
//
// The record is JSON under the group's name in a compacted topic of one
// partition (by convention <group>-lineage), written at the first start
// and whenever the service accepts a change; Check compares it with the
// topics as they are now.
package lineage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderstream/pipeline/kit/topics"
)

// Source is a topic as the state saw it.
type Source struct {
	Topic      string `json:"topic"`
	ID         string `json:"topic_id"`
	Partitions int32  `json:"partitions"`
}

// Record is what a group's state was built from.
type Record struct {
	Group   string   `json:"group"`
	Sources []Source `json:"sources"`
	// Epoch counts the accepted recreations of a source (see Accept).
	Epoch     int32     `json:"epoch"`
	WrittenAt time.Time `json:"written_at"`
	WrittenBy string    `json:"written_by"`
}

// Source returns the record's source topic, or false.
func (r *Record) Source(topic string) (Source, bool) {
	i := slices.IndexFunc(r.Sources, func(s Source) bool { return s.Topic == topic })
	if i < 0 {
		return Source{}, false
	}
	return r.Sources[i], true
}

// Watch says what of a topic the state depends on.
type Watch struct {
	Topic      string
	ID         bool // recreating the topic invalidates the state
	Partitions bool // so does changing its partition count
}

// Change is a difference between the record and the topics now.
type Change struct {
	Topic    string
	Recorded Source
	Now      Source
	What     string // "topic id" or "partitions"
}

func (c Change) String() string {
	if c.What == "partitions" {
		return fmt.Sprintf("%s had %d partitions, now %d", c.Topic, c.Recorded.Partitions, c.Now.Partitions)
	}
	return fmt.Sprintf("%s was recreated (topic id %s, now %s)", c.Topic, c.Recorded.ID, c.Now.ID)
}

// Store reads and writes the lineage records in topic.
type Store struct {
	Client *kgo.Client // produces with acks=all; consumes nothing
	Topic  string
}

// Load returns the record of group, or nil when there is none.
func (s Store) Load(ctx context.Context, group string) (*Record, error) {
	v, found, err := topics.Latest(ctx, s.Client, s.Topic, group)
	if err != nil {
		return nil, fmt.Errorf("loading the lineage of %s from %s: %w", group, s.Topic, err)
	}
	if !found {
		return nil, nil
	}
	var rec Record
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, fmt.Errorf("the lineage record of %s in %s does not parse: %w", group, s.Topic, err)
	}
	return &rec, nil
}

// Save writes rec and waits for Kafka's acknowledgement.
func (s Store) Save(ctx context.Context, rec Record) error {
	rec.WrittenAt = time.Now().UTC().Truncate(time.Millisecond)
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := s.Client.ProduceSync(ctx, &kgo.Record{Topic: s.Topic, Key: []byte(rec.Group), Value: v}).FirstErr(); err != nil {
		return fmt.Errorf("saving the lineage of %s to %s: %w", rec.Group, s.Topic, err)
	}
	return nil
}

// Now describes the watched topics as they are.
func Now(ctx context.Context, cl *kgo.Client, watch []Watch) ([]Source, error) {
	names := make([]string, len(watch))
	for i, w := range watch {
		names[i] = w.Topic
	}
	details, err := kadm.NewClient(cl).ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("describing %v: %w", names, err)
	}
	out := make([]Source, 0, len(watch))
	for _, w := range watch {
		d, ok := details[w.Topic]
		if !ok || d.Err != nil {
			return nil, fmt.Errorf("describing %s: %w", w.Topic, errors.Join(d.Err, errors.New("not in metadata")))
		}
		out = append(out, Source{Topic: w.Topic, ID: d.ID.String(), Partitions: int32(len(d.Partitions))})
	}
	return out, nil
}

// Compare lists what of the watched topics changed since rec.
func Compare(rec *Record, now []Source, watch []Watch) []Change {
	var out []Change
	for _, w := range watch {
		was, ok := rec.Source(w.Topic)
		if !ok {
			continue // not recorded: nothing to compare with
		}
		i := slices.IndexFunc(now, func(s Source) bool { return s.Topic == w.Topic })
		if i < 0 {
			continue
		}
		is := now[i]
		if w.ID && was.ID != is.ID {
			out = append(out, Change{w.Topic, was, is, "topic id"})
		} else if w.Partitions && was.Partitions != is.Partitions {
			out = append(out, Change{w.Topic, was, is, "partitions"})
		}
	}
	return out
}

// Changed is the error of Check when watched topics changed.
type Changed struct {
	Group   string
	Changes []Change
	Epoch   int32  // the recorded epoch
	Fix     string // what the operator should do, from the service
}

func (c *Changed) Error() string {
	parts := make([]string, len(c.Changes))
	for i, ch := range c.Changes {
		parts[i] = ch.String()
	}
	return fmt.Sprintf("the state of %s was built from other topics than there are now: %s. %s",
		c.Group, strings.Join(parts, "; "), c.Fix)
}

// Check loads group's record and compares it with the watched topics. With
// no record yet it saves the topics as they are (the first start, or a
// state from before lineage was kept) and returns it. Otherwise it returns
// the record, and a *Changed error when a watched topic changed.
func (s Store) Check(ctx context.Context, group, writer string, watch []Watch) (*Record, []Source, error) {
	now, err := Now(ctx, s.Client, watch)
	if err != nil {
		return nil, nil, err
	}
	rec, err := s.Load(ctx, group)
	if err != nil {
		return nil, now, err
	}
	if rec == nil {
		rec = &Record{Group: group, Sources: now, WrittenBy: writer}
		if err := s.Save(ctx, *rec); err != nil {
			return nil, now, err
		}
		return rec, now, nil
	}
	if ch := Compare(rec, now, watch); len(ch) > 0 {
		return rec, now, &Changed{Group: group, Changes: ch, Epoch: rec.Epoch}
	}
	// Keep it current for what is not watched (a grown topic whose
	// partitions do not matter), so the next check compares with today.
	if !slices.Equal(rec.Sources, now) {
		rec.Sources, rec.WrittenBy = now, writer
		if err := s.Save(ctx, *rec); err != nil {
			return nil, now, err
		}
	}
	return rec, now, nil
}
