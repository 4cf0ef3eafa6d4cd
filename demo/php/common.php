<?php
// Shared bits of the demo PHP app: accounts, escaping, page layout.

function demo_h($s)
{
    return htmlspecialchars((string)$s, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
}

function demo_check_password($user, $pass)
{
    $lines = file(__DIR__ . '/../users.txt', FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES);
    foreach ($lines ?: [] as $line) {
        if ($line[0] === '#') {
            continue;
        }
        $parts = explode(':', $line, 2);
        if (count($parts) === 2 && hash_equals($parts[0], (string)$user)) {
            return hash_equals($parts[1], hash('sha256', (string)$pass));
        }
    }
    return false;
}

function demo_current_user()
{
    return isset($_SESSION['user']) && is_string($_SESSION['user']) ? $_SESSION['user'] : null;
}

function demo_require_login()
{
    $user = demo_current_user();
    if ($user === null) {
        header('Location: /php/login.php', true, 302);
        exit;
    }
    return $user;
}

function demo_page_start($title)
{
    header('Content-Type: text/html; charset=utf-8');
    echo "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>", demo_h($title),
        "</title>\n<style>.notice{border:1px solid #c90;background:#ffe;padding:.5em;margin:.5em 0}",
        ".error{color:#a00}</style></head>\n<body>\n";
}

function demo_page_end()
{
    echo "</body>\n</html>\n";
}

function demo_hello_page($user, $title)
{
    demo_page_start($title);
    echo '<h1>', demo_h($title), "</h1>\n";
    echo '<p>Hello, ', demo_h($user), "</p>\n";
    echo "<p><a href=\"/php/\">Home</a> | <a href=\"/php/page2.php\">Page 2</a> | ",
        "<a href=\"/php/logout.php\">Log out</a></p>\n";
    demo_page_end();
}
