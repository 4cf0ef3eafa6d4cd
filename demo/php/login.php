<?php
require __DIR__ . '/common.php';
session_start();

$error = '';
if ($_SERVER['REQUEST_METHOD'] === 'POST') {
    $user = isset($_POST['username']) && is_string($_POST['username']) ? $_POST['username'] : '';
    $pass = isset($_POST['password']) && is_string($_POST['password']) ? $_POST['password'] : '';
    if (demo_check_password($user, $pass)) {
        // A fresh id at login, the old one deleted: no session fixation.
        session_regenerate_id(true);
        $_SESSION['user'] = $user;
        header('Location: /php/', true, 302);
        exit;
    }
    $error = 'Invalid username or password';
}

demo_page_start('Log in');
echo "<h1>Log in</h1>\n";
if (isset($_GET['message']) && is_string($_GET['message']) && $_GET['message'] !== '') {
    echo '<div class="notice">', demo_h($_GET['message']), "</div>\n";
}
if ($error !== '') {
    echo '<p class="error">', demo_h($error), "</p>\n";
}
?>
<form method="post" action="/php/login.php">
  <p><label>Username <input name="username" autocomplete="username"></label></p>
  <p><label>Password <input name="password" type="password" autocomplete="current-password"></label></p>
  <p><button type="submit">Log in</button></p>
</form>
<?php
demo_page_end();
