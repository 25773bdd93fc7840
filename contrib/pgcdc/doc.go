// Package pgcdc invalidates the Matroska cache from PostgreSQL's commit log.
package pgcdc
