#!/usr/bin/perl
# Demo legacy app: CGI.pm + CGI::Session (cookie CGISESSID), one script, ?action=...
use strict;
use warnings;
use CGI;
use CGI::Session;
use Digest::SHA qw(sha256_hex);
use FindBin;

my $q = CGI->new;
my $session_dir = $ENV{DEMO_SESSION_DIR} || '/tmp';
my %store = (Directory => $session_dir);
my $self = '/perl/app.cgi';

sub h { return CGI::escapeHTML(defined $_[0] ? $_[0] : '') }

sub check_password {
    my ($user, $pass) = @_;
    open(my $fh, '<', "$FindBin::Bin/../users.txt") or die "users.txt: $!";
    while (my $line = <$fh>) {
        chomp $line;
        next if $line =~ /^#/ || $line eq '';
        my ($name, $hash) = split /:/, $line, 2;
        return sha256_hex($pass) eq $hash if defined $hash && $name eq $user;
    }
    return 0;
}

# The existing session, if the browser sent a cookie for one that still exists.
sub current_session {
    my $sid = $q->cookie('CGISESSID');
    return undef unless defined $sid && $sid =~ /^[0-9a-zA-Z]+$/;
    my $s = CGI::Session->load('driver:File', $sid, \%store) or return undef;
    return undef if $s->is_empty || $s->is_expired;
    return $s;
}

sub page {
    my ($title, $body, @header) = @_;
    print $q->header(-type => 'text/html', -charset => 'utf-8', @header);
    print "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>", h($title),
        "</title>\n<style>.notice{border:1px solid #c90;background:#ffe;padding:.5em;margin:.5em 0}",
        ".error{color:#a00}</style></head>\n<body>\n<h1>", h($title), "</h1>\n", $body,
        "</body>\n</html>\n";
}

sub login_form {
    my ($error) = @_;
    my $body = '';
    my $message = $q->url_param('message');
    $body .= '<div class="notice">' . h($message) . "</div>\n" if defined $message && $message ne '';
    $body .= '<p class="error">' . h($error) . "</p>\n" if $error;
    $body .= <<"HTML";
<form method="post" action="$self?action=login">
  <p><label>Username <input name="username" autocomplete="username"></label></p>
  <p><label>Password <input name="password" type="password" autocomplete="current-password"></label></p>
  <p><button type="submit">Log in</button></p>
</form>
HTML
    page('Log in', $body);
}

my $action = $q->url_param('action') || '';

if ($action eq 'login') {
    if ($q->request_method eq 'POST') {
        my $user = $q->param('username') // '';
        my $pass = $q->param('password') // '';
        if (check_password($user, $pass)) {
            # New id at login, old session gone: no session fixation.
            if (my $old = current_session()) { $old->delete; $old->flush; }
            my $s = CGI::Session->new('driver:File', undef, \%store) or die CGI::Session->errstr;
            $s->param(user => $user);
            $s->expire('+8h');
            $s->flush;
            my $cookie = $q->cookie(-name => 'CGISESSID', -value => $s->id, -path => '/', -httponly => 1);
            print $q->redirect(-uri => $self, -status => '302 Found', -cookie => $cookie);
            exit;
        }
        login_form('Invalid username or password');
    } else {
        login_form('');
    }
    exit;
}

if ($action eq 'logout') {
    if (my $s = current_session()) { $s->delete; $s->flush; }
    my $cookie = $q->cookie(-name => 'CGISESSID', -value => '', -path => '/', -expires => '-1d');
    print $q->redirect(-uri => "$self?action=login", -status => '302 Found', -cookie => $cookie);
    exit;
}

my $s = current_session();
my $user = $s ? $s->param('user') : undef;
unless (defined $user) {
    print $q->redirect(-uri => "$self?action=login", -status => '302 Found');
    exit;
}
page('Home', '<p>Hello, ' . h($user) . "</p>\n"
    . "<p><a href=\"$self\">Home</a> | <a href=\"$self?action=logout\">Log out</a></p>\n");
