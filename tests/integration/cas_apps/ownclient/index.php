<?php
// An app with its own CAS client, as phpCAS does it: the app validates the service ticket
// itself, starts a new PHP session for the user and keeps the user in $_SESSION. It never
// tells the web server who signed in (no REMOTE_USER, no header): Session Guard learns of
// the session only from the ticket on the request whose response sets the cookie.
$cas = $_SERVER['CAS_BASE'];
session_start();
$self = 'http://' . $_SERVER['HTTP_HOST'] . strtok($_SERVER['REQUEST_URI'], '?');
if (isset($_GET['ticket'])) {
    $answer = @file_get_contents($cas . '/cas/serviceValidate?service=' . urlencode($self) .
                                 '&ticket=' . urlencode($_GET['ticket']));
    if ($answer !== false && preg_match('#<cas:user>([^<]+)</cas:user>#', $answer, $m)) {
        session_regenerate_id(true);
        $_SESSION['user'] = html_entity_decode($m[1]);
        header('Location: ' . $self);
        exit;
    }
    http_response_code(403);
    echo "CAS ticket refused\n";
    exit;
}
if (!empty($_SESSION['user'])) {
    echo 'Hello, ' . htmlspecialchars($_SESSION['user']) . " (own CAS client)\n";
    exit;
}
header('Location: ' . $cas . '/cas/login?service=' . urlencode($self));
