#!/bin/sh
printf 'Content-Type: text/plain; charset=utf-8\r\n\r\n%s\n' "${REMOTE_USER:-}"
