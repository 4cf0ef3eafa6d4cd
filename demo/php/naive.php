<?php
// The home page plus the check a legacy shop writes by hand: ask the database on
// every request whether the account is still active. A baseline for benchmarks.
require __DIR__ . '/common.php';
session_start();
$user = demo_require_login();

function account_is_active($user)
{
    $file = $_SERVER['SG_DB_CNF'] ?? getenv('SG_DB_CNF');
    $cnf = $file ? parse_ini_file($file, true, INI_SCANNER_RAW) : false;
    if (!$cnf || !isset($cnf['client'])) {
        throw new RuntimeException('database options not found');
    }
    $c = $cnf['client'];
    $db = new mysqli($c['host'] ?? 'localhost', $c['user'] ?? '', $c['password'] ?? '',
        $c['database'] ?? '', (int)($c['port'] ?? 0), $c['socket'] ?? null);
    $stmt = $db->prepare('SELECT active FROM accounts WHERE username=?');
    $stmt->bind_param('s', $user);
    $stmt->execute();
    $stmt->bind_result($active);
    $found = $stmt->fetch();
    $stmt->close();
    $db->close();
    return $found && (int)$active === 1;
}

try {
    $ok = account_is_active($user);
} catch (Throwable $e) {
    error_log('naive.php: account check failed: ' . $e->getMessage());
    http_response_code(503);
    echo "Service unavailable\n";
    exit;
}
if (!$ok) {
    $_SESSION = [];
    session_destroy();
    header('Location: /php/login.php', true, 302);
    exit;
}
demo_hello_page($user, 'Home');
