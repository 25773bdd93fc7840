package main

import (
	"fmt"
	"log/slog"

	"gorm.io/gorm"

	"github.com/matroska-go/matroska/contrib/pgcdc"
	"github.com/matroska-go/matroska/scopes"
	"github.com/matroska-go/matroska/tiered"
)

// The names log mode gives its objects in PostgreSQL and Redis.
const (
	// logSlot names the publication and the replication slot the consumer
	// creates when they are missing, and its advisory lock. Slots belong
	// to the whole PostgreSQL cluster: two services on one cluster need
	// two names.
	logSlot = "blog"
	// logFeed is the feed the consumer keeps in Redis and the nodes follow
	// (tiered.Config.Feeds).
	logFeed = "pg"
)

// consumerConfig is the configuration of the commit log's consumer in log
// mode: the rows of the table of Article invalidate what the GORM plugin
// would have invalidated for them (deps.Id("articles", id), and the
// conditions of articleScopes for their old and new values), now whoever
// wrote them. With feed set (the cache is on Redis), the consumer keeps
// logFeed alive while it keeps up, and the nodes that follow it serve their
// cache only then.
//
// Every node runs a consumer on the same slot: one streams, the others
// wait as standbys on its advisory lock and take over when it stops.
func consumerConfig(dsn string, cache *tiered.Cache, articles *scopes.Scopes[Article], feed bool, log *slog.Logger) pgcdc.Config {
	cfg := pgcdc.Config{
		Conn:        dsn,
		Invalidator: cache,
		Tables: map[string]pgcdc.Table{
			// Type left empty: the table name, which is the name the
			// plugin and matroskagorm.Dependencies give the model.
			articlesTable: {Scopes: []pgcdc.Scope{pgcdc.ScopesOf(articles)}},
		},
		Publication: logSlot,
		Slot:        logSlot,
		Logger:      log,
	}
	if feed {
		cfg.Feed = logFeed
	}
	return cfg
}

// articlesTable is the table of Article, as GORM names it.
const articlesTable = "articles"

// prepareLog gets the database ready for log mode: REPLICA IDENTITY FULL on
// the table of Article, so that the log carries an updated or deleted row's
// old values and moving an article between categories drops the lists of
// both (without it the consumer drops every list of the type, and warns).
// The ALTER takes a brief exclusive lock: it runs only when needed.
func prepareLog(db *gorm.DB) error {
	stmt := &gorm.Statement{DB: db}
	if err := stmt.Parse(&Article{}); err != nil {
		return err
	}
	if stmt.Schema.Table != articlesTable {
		return fmt.Errorf("the table of Article is %q, the consumer reads %q", stmt.Schema.Table, articlesTable)
	}
	var identity string
	err := db.Raw("SELECT relreplident::text FROM pg_class WHERE oid = ?::regclass", articlesTable).Scan(&identity).Error
	if err != nil {
		return fmt.Errorf("replica identity of %s: %w", articlesTable, err)
	}
	if identity == "f" {
		return nil
	}
	if err := db.Exec("ALTER TABLE " + articlesTable + " REPLICA IDENTITY FULL").Error; err != nil {
		return fmt.Errorf("%s: REPLICA IDENTITY FULL: %w", articlesTable, err)
	}
	return nil
}
