package workload

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska/internal/globs"
)

// infoField reads one numeric field of INFO section.
func infoField(ctx context.Context, rdb *redis.Client, section, field string) (int64, error) {
	s, err := rdb.Info(ctx, section).Result()
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if ok && k == field {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("workload: INFO %s has no %s", section, field)
}

// commands is the server's total_commands_processed (commands run inside
// scripts included).
func commands(ctx context.Context, rdb *redis.Client) int64 {
	n, _ := infoField(ctx, rdb, "stats", "total_commands_processed")
	return n
}

// usedMemory is the server's used_memory in bytes.
func usedMemory(ctx context.Context, rdb *redis.Client) (int64, error) {
	return infoField(ctx, rdb, "memory", "used_memory")
}

// ServerVersion is the server's redis_version.
func ServerVersion(ctx context.Context, rdb *redis.Client) string {
	s, err := rdb.Info(ctx, "server").Result()
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "redis_version:"); ok {
			return v
		}
	}
	return "unknown"
}

// DeleteNamespace deletes every key under namespace ns (ns + ":*"), as Run
// does after each workload: for the workloads a program adds.
func DeleteNamespace(ctx context.Context, rdb *redis.Client, ns string) error {
	return cleanup(ctx, rdb, ns)
}

// cleanup deletes every key under namespace ns (ns + ":*").
func cleanup(ctx context.Context, rdb *redis.Client, ns string) error {
	it := rdb.Scan(ctx, 0, globs.Escape(ns)+":*", 1000).Iterator()
	batch := make([]string, 0, 1000)
	for it.Next(ctx) {
		batch = append(batch, it.Val())
		if len(batch) == cap(batch) {
			if err := rdb.Unlink(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	if len(batch) > 0 {
		return rdb.Unlink(ctx, batch...).Err()
	}
	return nil
}
