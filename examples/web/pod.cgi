#!/bin/sh
# GET /cgi-bin/pod: the name of the pod that answered (its hostname), so a client of a
# service can tell which replica served it. CGI wants CRLF after the headers.
printf 'Content-Type: text/plain\r\n\r\n'
hostname
